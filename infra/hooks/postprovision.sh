#!/bin/sh
# azd postprovision: build extract_worker/Dockerfile in the registry with ACR Tasks and tag it
# as the image the Batch pool pulls. The build context is the committed tree (git archive), so
# the image matches the REVISION it is labelled with and nothing local (venv, node_modules,
# uncommitted edits) is uploaded.
set -eu
: "${AZURE_CONTAINER_REGISTRY_NAME:?not set: run this through azd (azd provision / azd up)}"
: "${AVOPS_WORKER_IMAGE:?not set: run this through azd (azd provision / azd up)}"

root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT INT TERM

if git -C "$root" rev-parse --verify HEAD >/dev/null 2>&1; then
  revision=$(git -C "$root" rev-parse --short HEAD)
  git -C "$root" archive --format=tar HEAD | tar -x -C "$context"
else
  revision=unknown
  cp -R "$root/." "$context"
fi

echo "Building $AVOPS_WORKER_IMAGE (revision $revision) in $AZURE_CONTAINER_REGISTRY_NAME"
az acr build \
  --registry "$AZURE_CONTAINER_REGISTRY_NAME" \
  --image "$AVOPS_WORKER_IMAGE" \
  --file "$context/extract_worker/Dockerfile" \
  --build-arg "REVISION=$revision" \
  "$context"
