# azd prepackage (Windows): same as package-python.sh. Installs the Function App's packages into
# .python_packages for the Functions host (Linux x86_64, CPython 3.11), vcd without its
# dependencies (requirements-nodeps.txt), so that the upload needs no remote build.
$ErrorActionPreference = 'Stop'
$root = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
$python = if ($env:PYTHON) { $env:PYTHON } else { 'python' }
$target = Join-Path $root '.python_packages\lib\site-packages'
if (Test-Path (Join-Path $root '.python_packages')) { Remove-Item -Recurse -Force (Join-Path $root '.python_packages') }
$common = @('--quiet', '--disable-pip-version-check', '--target', $target,
  '--platform', 'manylinux_2_28_x86_64', '--platform', 'manylinux_2_17_x86_64',
  '--platform', 'manylinux2014_x86_64', '--implementation', 'cp', '--python-version', '3.11',
  '--only-binary=:all:')
& $python -m pip install @common -r (Join-Path $root 'requirements.txt') -c (Join-Path $root 'constraints.txt')
if ($LASTEXITCODE -ne 0) { throw "pip install -r requirements.txt failed ($LASTEXITCODE)" }
& $python -m pip install @common --no-deps -r (Join-Path $root 'requirements-nodeps.txt') -c (Join-Path $root 'constraints.txt')
if ($LASTEXITCODE -ne 0) { throw "pip install -r requirements-nodeps.txt failed ($LASTEXITCODE)" }
# The explorer's browser libraries ship inside the app (no CDN): copy them from node_modules.
if (-not (Test-Path (Join-Path $root 'node_modules/leaflet/dist/leaflet.js'))) {
  Push-Location $root; try { npm ci --no-audit --no-fund --loglevel=error } finally { Pop-Location }
  if ($LASTEXITCODE -ne 0) { throw "npm ci failed ($LASTEXITCODE)" }
}
Push-Location $root
try { & $python -m dataops.explorer.vendor (Join-Path $root 'node_modules') } finally { Pop-Location }
if ($LASTEXITCODE -ne 0) { throw "copying the explorer libraries failed ($LASTEXITCODE)" }
Write-Host 'Function App packages installed into .python_packages'
