#!/bin/sh
# azd postdeploy: Event Grid refuses a subscription to a function that does not exist yet, so
# the first `azd up` provisions without it (AVOPS_EVENT_SUBSCRIPTION=false). Once the code is
# deployed, wait until the host lists both Event Grid functions (indexing a new package takes a
# while after the deployment returns), then switch the subscriptions on and provision again;
# later runs find it on and do nothing.
set -eu
if [ "${AVOPS_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
  exit 0
fi
: "${AZURE_RESOURCE_GROUP:?not set: run this through azd (azd deploy / azd up)}"
: "${AZURE_FUNCTION_APP_NAME:?not set: run this through azd (azd deploy / azd up)}"
timeout_s=${AVOPS_FUNCTION_WAIT_SECONDS:-600}
interval_s=${AVOPS_FUNCTION_WAIT_INTERVAL:-15}
for function in on_landing_blob_created on_labeled_blob_created; do
  waited=0
  until az functionapp function show --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$AZURE_FUNCTION_APP_NAME" --function-name "$function" --output none 2>/dev/null; do
    if [ "$waited" -ge "$timeout_s" ]; then
      echo "function $function is not listed after ${timeout_s}s: not enabling the Event Grid subscriptions" >&2
      exit 1
    fi
    sleep "$interval_s"
    waited=$((waited + interval_s))
  done
  echo "function $function is listed (after ${waited}s)"
done
echo "Function code is deployed: creating the Event Grid subscriptions landing -> ingest, labeled -> label import."
azd env set AVOPS_EVENT_SUBSCRIPTION true
azd provision --no-prompt
