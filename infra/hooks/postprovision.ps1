# azd postprovision (Windows): same as postprovision.sh. Builds extract_worker/Dockerfile with
# ACR Tasks from the committed tree and tags it as the image the Batch pool pulls.
$ErrorActionPreference = 'Stop'
if (-not $env:AZURE_CONTAINER_REGISTRY_NAME -or -not $env:AVOPS_WORKER_IMAGE) {
  throw 'AZURE_CONTAINER_REGISTRY_NAME / AVOPS_WORKER_IMAGE not set: run this through azd.'
}
$root = Resolve-Path (Join-Path $PSScriptRoot '..\..')
$context = Join-Path ([System.IO.Path]::GetTempPath()) ([System.Guid]::NewGuid())
New-Item -ItemType Directory -Path $context | Out-Null
try {
  $revision = (git -C $root rev-parse --short HEAD)
  git -C $root archive --format=zip --output (Join-Path $context 'src.zip') HEAD
  Expand-Archive -Path (Join-Path $context 'src.zip') -DestinationPath (Join-Path $context 'src')
  $src = Join-Path $context 'src'
  Write-Host "Building $($env:AVOPS_WORKER_IMAGE) (revision $revision) in $($env:AZURE_CONTAINER_REGISTRY_NAME)"
  # Retried: the Tasks Contributor role provisioning just granted can take minutes to apply.
  for ($attempt = 1; ; $attempt++) {
    az acr build --registry $env:AZURE_CONTAINER_REGISTRY_NAME --image $env:AVOPS_WORKER_IMAGE `
      --file (Join-Path $src 'extract_worker/Dockerfile') --build-arg "REVISION=$revision" $src
    if ($LASTEXITCODE -eq 0) { break }
    if ($attempt -ge 5) { throw "az acr build failed $attempt times ($LASTEXITCODE)" }
    Write-Host "az acr build failed (attempt $attempt); retrying in 30 s"
    Start-Sleep -Seconds 30
  }
}
finally {
  Remove-Item -Recurse -Force $context
}
