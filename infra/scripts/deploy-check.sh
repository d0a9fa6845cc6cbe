#!/bin/sh
# `make deploy-check`: the checks tests/infra cannot make, run when their tools are installed.
#   1. az bicep build   - compiles infra/main.bicep and every module (types, API versions)
#   2. az bicep lint    - the Bicep linter's rules (bicepconfig.json defaults)
#   3. azd provision --preview - what a deployment of the current azd environment would change
# A missing tool is reported as "skipped: ..." and does not fail the check, unless
# DEPLOY_CHECK_REQUIRE=1 (CI with the tools installed). A failing check fails it.
set -u
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
main="$root/infra/main.bicep"
failed=0
skipped=0

skip() {
  echo "skipped: $1"
  skipped=$((skipped + 1))
}

run() {
  label=$1
  shift
  echo "running: $label"
  if "$@"; then
    echo "ok: $label"
  else
    echo "FAILED: $label" >&2
    failed=$((failed + 1))
  fi
}

if command -v az >/dev/null 2>&1; then
  run "az bicep build" az bicep build --file "$main" --stdout >/dev/null
  run "az bicep lint" az bicep lint --file "$main"
else
  skip "az not installed (az bicep build, az bicep lint)"
fi

if ! command -v azd >/dev/null 2>&1; then
  skip "azd not installed (azd provision --preview)"
elif ! (cd "$root" && azd env get-values >/dev/null 2>&1); then
  skip "no azd environment (azd init -e NAME, then azd env set AZURE_LOCATION ...) for azd provision --preview"
else
  run "azd provision --preview" sh -c "cd '$root' && azd provision --preview --no-prompt"
fi

if [ "$failed" -gt 0 ]; then
  echo "deploy-check: $failed check(s) failed" >&2
  exit 1
fi
if [ "$skipped" -gt 0 ] && [ "${DEPLOY_CHECK_REQUIRE:-0}" = "1" ]; then
  echo "deploy-check: $skipped check(s) skipped and DEPLOY_CHECK_REQUIRE=1" >&2
  exit 1
fi
echo "deploy-check: done ($skipped skipped)"
