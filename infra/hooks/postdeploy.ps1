# azd postdeploy (Windows): same as postdeploy.sh. Waits until the host lists both Event Grid
# functions, then turns the Event Grid subscriptions on and provisions again.
$ErrorActionPreference = 'Stop'
if ($env:AVOPS_EVENT_SUBSCRIPTION -eq 'true') { exit 0 }
if (-not $env:AZURE_RESOURCE_GROUP -or -not $env:AZURE_FUNCTION_APP_NAME) {
  throw 'AZURE_RESOURCE_GROUP / AZURE_FUNCTION_APP_NAME not set: run this through azd.'
}
$timeout = if ($env:AVOPS_FUNCTION_WAIT_SECONDS) { [int]$env:AVOPS_FUNCTION_WAIT_SECONDS } else { 600 }
foreach ($function in @('on_landing_blob_created', 'on_labeled_blob_created')) {
  $waited = 0
  while ($true) {
    az functionapp function show --resource-group $env:AZURE_RESOURCE_GROUP `
      --name $env:AZURE_FUNCTION_APP_NAME --function-name $function --output none 2>$null
    if ($LASTEXITCODE -eq 0) { break }
    if ($waited -ge $timeout) { throw "function $function is not listed after ${timeout}s" }
    Start-Sleep -Seconds 15
    $waited += 15
  }
  Write-Host "function $function is listed (after ${waited}s)"
}
Write-Host 'Function code is deployed: creating the Event Grid subscriptions.'
azd env set AVOPS_EVENT_SUBSCRIPTION true
if ($LASTEXITCODE -ne 0) { throw "azd env set failed ($LASTEXITCODE)" }
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) { throw "azd provision failed ($LASTEXITCODE)" }
