// The Function App on the Flex Consumption plan: Python 3.11, the worker loads main.py, every app
// setting of the settings model, identity-based connections only (no keys, no connection
// strings with secrets), VNet-integrated so it reaches the private endpoints.

@description('Azure region of the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the Function App.')
param appName string

@description('Resource id of the identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID and the __clientId connection settings).')
param identityClientId string

@description('Name of the host storage account (AzureWebJobsStorage, Durable task hub).')
param hostStorageAccountName string

@description('Blob endpoint of the host storage account, with a trailing slash.')
param hostStorageBlobEndpoint string

@description('Container the app package is deployed to.')
param deploymentContainerName string

@description('Subnet the app integrates into (delegated to Microsoft.App/environments).')
param subnetId string

@description('Application Insights connection string (ingestion address; local auth is off).')
param appInsightsConnectionString string

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Cosmos DB document endpoint.')
param cosmosEndpoint string

@description('Cosmos DB database name.')
param cosmosDatabase string

@description('Zone name -> blob account URL, one account per zone.')
param storageAccountUrls object

@description('Batch account URL.')
param batchAccountUrl string

@description('Batch pool for extraction tasks.')
param batchPoolId string

@description('Full reference of the worker image the Batch tasks run (<login server>/avops-extract-worker:<tag>).')
param batchWorkerImage string

@description('Login server of the registry the pool pulls the worker image from.')
param batchRegistryServer string

@description('Resource id of the Batch pool identity (pulls the image).')
param batchIdentityId string

@description('Client id of the Batch pool identity (the worker\'s AZURE_CLIENT_ID).')
param batchIdentityClientId string

@description('Largest manifest.json accepted, in bytes.')
param manifestMaxBytes int = 1048576

@description('Files under an upload prefix that the manifest does not list: warn or fail.')
@allowed([
  'warn'
  'fail'
])
param unlistedFiles string = 'warn'

@description('Minutes ingest waits for listed files that have not arrived.')
param lateFileDeadlineMinutes int = 30

@description('Age in minutes after which the reconciler starts a landing manifest that has no ingest run.')
@minValue(0)
param reconcileAfterMinutes int = 10

@description('Minutes after which a still-running ingest run is terminated and reported.')
@minValue(1)
param runDeadlineMinutes int = 120

@description('Start extraction when a RAW datastream is COMPLETED.')
param extractOnIngest bool = true

@description('Minutes after which a still-running extraction is canceled and FAILED.')
@minValue(1)
param extractDeadlineMinutes int = 360

@description('Python log level of the app.')
@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

@description('Key Vault holding the Metadata API key lists as secrets avops-api-read-keys and avops-api-write-keys (create them first); empty: no API keys, only signed-in principals if trusted.')
param apiKeysVaultName string = ''

@description('Key Vault holding avops-batch-notify-secret, the HMAC key of the Batch job-done tokens (keyvault.bicep creates it).')
param keyVaultName string

@description('Trust X-MS-CLIENT-PRINCIPAL: set only once App Service authentication is configured in front of the app.')
param apiTrustClientPrincipal bool = false

@description('Minutes a read-only SAS handed out by the Metadata API stays valid.')
@minValue(1)
@maxValue(60)
param apiSasMinutes int = 15

@description('Largest label file (COCO or OpenLABEL JSON) a label import parses, in bytes.')
@minValue(1024)
param labelImportMaxBytes int = 16777216

// API keys are secrets: never inline, only as Key Vault references resolved with the app's
// identity. (An unresolved reference stays a literal string, which the host would still reject
// as a function key before the API sees it.)
@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var apiReadKeys = empty(apiKeysVaultName) ? '' : '@Microsoft.KeyVault(VaultName=${apiKeysVaultName};SecretName=avops-api-read-keys)'
var apiWriteKeys = empty(apiKeysVaultName) ? '' : '@Microsoft.KeyVault(VaultName=${apiKeysVaultName};SecretName=avops-api-write-keys)'
var apiEraseKeys = empty(apiKeysVaultName) ? '' : '@Microsoft.KeyVault(VaultName=${apiKeysVaultName};SecretName=avops-api-erase-keys)'
var erasureSalt = empty(apiKeysVaultName) ? '' : '@Microsoft.KeyVault(VaultName=${apiKeysVaultName};SecretName=avops-erasure-salt)'
// Always set: the Batch job-done signal is on in Azure. The app signs each job's token with
// this key and checks the tokens its route receives (docs/batch.md).
var batchNotifySecret = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=avops-batch-notify-secret)'

// The one list of app settings. tests/infra/test_settings_parity.py parses it: the AVOPS_ keys
// must be exactly dataops.settings.Settings.env_names(), the rest are host keys it knows.
// Flex Consumption refuses FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION as app
// settings (functionAppConfig.runtime carries them), so they are absent on purpose.
var appSettings = {
  PYTHON_SCRIPT_FILE_NAME: 'main.py'
  AzureWebJobsStorage__accountName: hostStorageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  AVOPS_STORE_BACKEND: 'cosmos'
  // Only read by the sqlite backend; a writable scratch path keeps the value valid.
  AVOPS_SQLITE_PATH: '/tmp/avops/metadata.sqlite3'
  AVOPS_COSMOS_ENDPOINT: cosmosEndpoint
  // Empty: the store authenticates with the managed identity (DefaultAzureCredential).
  AVOPS_COSMOS_KEY: ''
  AVOPS_COSMOS_DATABASE: cosmosDatabase
  AVOPS_COSMOS_VERIFY_TLS: 'true'
  // The Cosmos DB trigger's identity-based connection (its connection is named AVOPS_COSMOS):
  // read by the Functions host, not by the settings model (tests/infra/test_cosmos_trigger.py).
  AVOPS_COSMOS__accountEndpoint: cosmosEndpoint
  AVOPS_COSMOS__credential: 'managedidentity'
  AVOPS_COSMOS__clientId: identityClientId
  // Empty: the zones are reached through AVOPS_STORAGE_ACCOUNT_URLS with the managed identity.
  AVOPS_STORAGE_CONNECTION_STRING: ''
  AVOPS_STORAGE_ACCOUNT_URLS: string(storageAccountUrls)
  AVOPS_BATCH_BACKEND: 'azure'
  AVOPS_BATCH_ACCOUNT_URL: batchAccountUrl
  AVOPS_BATCH_POOL_ID: batchPoolId
  AVOPS_BATCH_WORKER_IMAGE: batchWorkerImage
  AVOPS_BATCH_REGISTRY_SERVER: batchRegistryServer
  AVOPS_BATCH_IDENTITY_ID: batchIdentityId
  AVOPS_BATCH_IDENTITY_CLIENT_ID: batchIdentityClientId
  // The app's own API: each job's release task POSTs to its job-done route below it with a
  // token of that job (docs/batch.md, job-end signal), and polling stays the fallback.
  AVOPS_BATCH_NOTIFY_URL: 'https://${app.properties.defaultHostName}/api'
  AVOPS_BATCH_NOTIFY_SECRET: batchNotifySecret
  // The local pool's slots; unused with the azure backend.
  AVOPS_BATCH_LOCAL_SLOTS: ''
  AVOPS_MANIFEST_MAX_BYTES: string(manifestMaxBytes)
  AVOPS_UNLISTED_FILES: unlistedFiles
  AVOPS_LATE_FILE_DEADLINE_MINUTES: string(lateFileDeadlineMinutes)
  AVOPS_RECONCILE_AFTER_MINUTES: string(reconcileAfterMinutes)
  AVOPS_RUN_DEADLINE_MINUTES: string(runDeadlineMinutes)
  AVOPS_EXTRACT_ON_INGEST: extractOnIngest ? 'true' : 'false'
  AVOPS_EXTRACT_DEADLINE_MINUTES: string(extractDeadlineMinutes)
  AVOPS_LOG_LEVEL: logLevel
  AVOPS_API_READ_KEYS: apiReadKeys
  AVOPS_API_WRITE_KEYS: apiWriteKeys
  AVOPS_API_ERASE_KEYS: apiEraseKeys
  AVOPS_ERASURE_SALT: erasureSalt
  AVOPS_API_TRUST_CLIENT_PRINCIPAL: apiTrustClientPrincipal ? 'true' : 'false'
  AVOPS_API_SAS_MINUTES: string(apiSasMinutes)
  // Empty: derived from AVOPS_STORAGE_ACCOUNT_URLS' landing account.
  AVOPS_LANDING_STORAGE_ACCOUNTS: ''
  AVOPS_LABEL_EXPORT_MAX_ITEMS: '5000'
  AVOPS_LABEL_EXPORT_EXPIRY_HOURS: '168'
  AVOPS_LABEL_EXPORT_MAX_EXPIRY_HOURS: '168'
  AVOPS_LABEL_IMPORT_MAX_BYTES: string(labelImportMaxBytes)
  AVOPS_ENRICHMENT_CONFIG: ''
  AVOPS_SCENES_CONFIG: ''
  AVOPS_EXPLORER_TILE_URL: ''
  AVOPS_EXPLORER_MONITOR_URL: ''
  AVOPS_CLIP_MARGIN_S: '2.0'
  AVOPS_CLIP_LINK_HOURS: '24'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: subnetId
    vnetRouteAllEnabled: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: appSettings
}

// azd deploys with an Entra token; basic (user/password) publishing stays off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Diagnostic logs and metrics to the workspace.
resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: app
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Resource id of the Function App.')
output appId string = app.id
@description('Name of the Function App.')
output appName string = app.name
@description('Default host name of the app.')
output hostName string = app.properties.defaultHostName
