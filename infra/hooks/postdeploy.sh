#!/bin/sh
# azd postdeploy: Event Grid refuses a subscription to a function that does not exist yet, so
# the first `azd up` provisions without it (AVOPS_EVENT_SUBSCRIPTION=false). Once the code is
# deployed, switch it on and provision again; later runs find it on and do nothing.
set -eu
if [ "${AVOPS_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
  exit 0
fi
echo "Function code is deployed: creating the Event Grid subscription landing -> ingest."
azd env set AVOPS_EVENT_SUBSCRIPTION true
azd provision --no-prompt
