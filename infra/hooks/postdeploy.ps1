# azd postdeploy (Windows): same as postdeploy.sh. Turns the Event Grid subscription on once the
# ingest function exists, then provisions again.
$ErrorActionPreference = 'Stop'
if ($env:AVOPS_EVENT_SUBSCRIPTION -eq 'true') { exit 0 }
Write-Host 'Function code is deployed: creating the Event Grid subscription landing -> ingest.'
azd env set AVOPS_EVENT_SUBSCRIPTION true
if ($LASTEXITCODE -ne 0) { throw "azd env set failed ($LASTEXITCODE)" }
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) { throw "azd provision failed ($LASTEXITCODE)" }
