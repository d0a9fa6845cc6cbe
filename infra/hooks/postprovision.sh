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

# The deployer builds with the Container Registry Tasks Contributor role that provisioning just
# granted (infra/modules/registry.bicep); a new role assignment can take minutes to apply, so a
# refused build is retried a few times before the hook gives up.
echo "Building $AVOPS_WORKER_IMAGE (revision $revision) in $AZURE_CONTAINER_REGISTRY_NAME"
attempt=1
until az acr build \
  --registry "$AZURE_CONTAINER_REGISTRY_NAME" \
  --image "$AVOPS_WORKER_IMAGE" \
  --file "$context/extract_worker/Dockerfile" \
  --build-arg "REVISION=$revision" \
  "$context"; do
  if [ "$attempt" -ge 5 ]; then
    echo "az acr build failed $attempt times; check the Container Registry Tasks Contributor role" >&2
    exit 1
  fi
  echo "az acr build failed (attempt $attempt); retrying in 30 s (role assignments may still be applying)" >&2
  attempt=$((attempt + 1))
  sleep 30
done
