// AVOps DataOps on Azure: everything `azd up` deploys. One resource group holds one storage
// account per zone, Event Grid, Cosmos DB, the Function App (Flex Consumption), Azure Batch with
// its registry, Key Vault, monitoring and a virtual network with private endpoints. The app and
// the Batch nodes run as their own user-assigned identities, the Event Grid topics as their
// system-assigned ones, each with only the roles it needs; no keys or connection strings with
// secrets are stored anywhere. docs/deployment.md has the reachability matrix.
// Validate: make deploy-check (az bicep build, az bicep lint, azd provision --preview)
targetScope = 'subscription'

@minLength(1)
@maxLength(48)
@description('Name of the azd environment; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer Flex Consumption and Azure Batch.')
param location string

@description('Object id of the person or pipeline running azd: may upload to landing, read the zones and metadata, push worker images and manage Key Vault secrets. Empty: no such assignments.')
param principalId string = ''

@description('Kind of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Keep the internal zones, Cosmos DB, Key Vault and the host storage off the internet (private endpoints only). Landing, share and labeled stay reachable (Entra-only) for vehicles and partners.')
param restrictNetwork bool = true

@description('Replication of the storage accounts (NFS zones allow only LRS and ZRS).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param storageSku string = 'Standard_LRS'

@description('Days deleted blobs and containers stay restorable (soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 14

@description('Days the archive zone keeps a landing archive before it ages out (0: forever, the default: the archive is the untouched copy of every upload). Never shorter than archiveImmutabilityDays.')
@minValue(0)
param archiveRetentionDays int = 0

@description('Days every archived blob stays immutable (WORM, time-based retention from creation; 0: no immutability policy). Created unlocked; lock it with the CLI for compliance. An erasure request cannot delete a protected blob before its retention ends.')
@minValue(0)
param archiveImmutabilityDays int = 0

@description('Days after which archived uploads move to the Cool tier (0: stay Hot).')
@minValue(0)
param archiveCoolAfterDays int = 30

@description('Days the error zone keeps failed uploads and dead-lettered events (0: forever).')
@minValue(0)
param errorRetentionDays int = 90

@description('Days after which files left in landing (uploads whose manifest never came) are deleted (0: never).')
@minValue(0)
param landingAbandonedDays int = 14

@description('Serverless Cosmos DB (pay per request) instead of provisioned autoscale throughput.')
param cosmosServerless bool = true

@description('Most Function App instances.')
@minValue(1)
@maxValue(1000)
param functionMaxInstances int = 100

@description('Memory per Function App instance in MB.')
@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Run extraction on Spot (low-priority) nodes instead of dedicated ones.')
param useSpotNodes bool = true

@description('VM size of the extraction nodes.')
param batchVmSize string = 'Standard_D4ds_v5'

@description('Most extraction nodes.')
@minValue(1)
param batchMaxNodes int = 10

@description('Extraction tasks that run at once on one node.')
@minValue(1)
param batchTaskSlotsPerNode int = 2

@description('Tag of the extract_worker image the pool runs (the postprovision hook pushes it).')
param workerImageTag string = 'latest'

@description('Create the Event Grid subscription to the ingest function. The postdeploy hook turns it on once the code is deployed, because Event Grid checks that the function exists.')
param eventSubscriptionEnabled bool = false

@description('Read the Metadata API key lists from Key Vault secrets avops-api-read-keys and avops-api-write-keys (create them before turning this on).')
param apiKeysFromKeyVault bool = false

@description('Trust the X-MS-CLIENT-PRINCIPAL header: only once App Service authentication (Entra ID) is configured in front of the app.')
param apiTrustClientPrincipal bool = false

@description('Key Vault purge protection (on by default; `azd down --purge` then cannot purge the vault and its name stays taken for 90 days: turn it off only for throwaway environments, before the first deployment).')
param keyVaultPurgeProtection bool = true

@description('A run is slow (alert) after this many minutes.')
@minValue(1)
@maxValue(300)
param expectedRunMinutes int = 60

@description('E-mail address for alerts; empty: alerts only show in the portal.')
param alertEmail string = ''

@description('Days Log Analytics keeps logs and metrics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'avops-dataops'
}

// The zones of dataops.paths.Zone (tests/infra/test_zones_parity.py keeps them equal). Each
// gets its own account named st<zone><token> and a container named after the zone.
// public: reachable from the internet with Entra ID (vehicles upload to landing, partners use
// share and labeled; dataops.storage.zones.INTERNET_FACING_ZONES); nfs: mounted by the Batch
// nodes; trustedServices: Event Grid's topics write dead letters there as trusted services;
// immutabilityDays: WORM retention of the zone container (archive only, opt-in).
var zones = [
  {
    name: 'landing'
    public: true
    nfs: false
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: landingAbandonedDays
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'raw'
    public: false
    nfs: true
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'archive'
    public: false
    nfs: false
    retentionDays: archiveRetentionDays == 0 ? 0 : max(archiveRetentionDays, archiveImmutabilityDays)
    coolAfterDays: archiveCoolAfterDays
    abandonedAfterDays: 0
    immutabilityDays: archiveImmutabilityDays
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'error'
    public: false
    nfs: false
    retentionDays: errorRetentionDays
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: true
    extraContainers: [
      deadLetterContainer
    ]
  }
  {
    name: 'extracted'
    public: false
    nfs: true
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'curated'
    public: false
    nfs: false
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'share'
    public: true
    nfs: false
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
  {
    name: 'labeled'
    public: true
    nfs: false
    retentionDays: 0
    coolAfterDays: 0
    abandonedAfterDays: 0
    immutabilityDays: 0
    trustedServices: false
    extraContainers: []
  }
]
var deadLetterContainer = 'eventgrid-deadletter'
var zoneNames = map(zones, z => z.name)
var storageAccountUrls = toObject(
  zones,
  z => z.name,
  z => 'https://st${z.name}${resourceToken}.blob.${environment().suffixes.storage}'
)
var deploymentContainerName = 'app-package'
var workerImage = 'avops-extract-worker:${workerImageTag}'

// Built-in Azure roles used below.
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    functionIdentityName: 'id-func-${resourceToken}'
    batchIdentityName: 'id-batch-${resourceToken}'
  }
}

module network 'modules/network.bicep' = {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    vnetName: 'vnet-${resourceToken}'
    workspaceId: monitoring.outputs.workspaceId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceName: 'log-${resourceToken}'
    appInsightsName: 'appi-${resourceToken}'
    retentionDays: logRetentionDays
    functionPrincipalId: identity.outputs.functionPrincipalId
  }
}

module zoneAccounts 'modules/storage-zone.bicep' = [
  for z in zones: {
    name: 'zone-${z.name}'
    scope: rg
    params: {
      location: location
      tags: tags
      accountName: 'st${z.name}${resourceToken}'
      zone: z.name
      extraContainers: z.extraContainers
      skuName: storageSku
      nfsV3: z.nfs
      // NFS accounts deny all but these subnets: the nodes mount over NFS, and without private
      // endpoints the app reaches the blob API through its subnet's service endpoint.
      allowedSubnetIds: [
        network.outputs.batchSubnetId
        network.outputs.functionSubnetId
      ]
      publicAccess: z.public || !restrictNetwork
      trustedServiceAccess: z.trustedServices
      immutabilityDays: z.immutabilityDays
      workspaceId: monitoring.outputs.workspaceId
      softDeleteDays: softDeleteDays
      retentionDays: z.retentionDays
      coolAfterDays: z.coolAfterDays
      abandonedAfterDays: z.abandonedAfterDays
    }
  }
]

// Function App: read/write/delete in every zone (ingest deletes from landing, copies to raw,
// archive and error, downstream steps write curated and share, label import reads labeled).
// Blob Data Contributor includes generateUserDelegationKey, so it also signs the user delegation
// SAS of cross-account copies and partner downloads: no Storage Blob Delegator on top. Batch
// nodes read raw and write extracted through the blob API as well as NFS. The operator uploads
// to landing and reads the rest. docs/deployment.md has the full matrix (tests/infra checks it).
module zoneRoles 'modules/roles.bicep' = [
  for (z, i) in zones: {
    name: 'roles-${z.name}'
    scope: rg
    params: {
      accountName: zoneAccounts[i].outputs.accountName
      assignments: concat(
        [
          {
            principalId: identity.outputs.functionPrincipalId
            roleId: roles.blobDataContributor
            principalType: 'ServicePrincipal'
            why: 'AVOps Function App: zone data'
          }
        ],
        z.name == 'raw'
          ? [
              {
                principalId: identity.outputs.batchPrincipalId
                roleId: roles.blobDataReader
                principalType: 'ServicePrincipal'
                why: 'AVOps Batch nodes: read measurement files'
              }
            ]
          : [],
        z.name == 'extracted'
          ? [
              {
                principalId: identity.outputs.batchPrincipalId
                roleId: roles.blobDataContributor
                principalType: 'ServicePrincipal'
                why: 'AVOps Batch nodes: write extraction output'
              }
            ]
          : [],
        empty(principalId)
          ? []
          : [
              {
                principalId: principalId
                roleId: z.name == 'landing' ? roles.blobDataContributor : roles.blobDataReader
                principalType: principalType
                why: 'AVOps operator: upload to landing, read the other zones'
              }
            ]
      )
    }
  }
]

var errorZoneIndex = indexOf(zoneNames, 'error')

module hostStorage 'modules/functions-storage.bicep' = {
  name: 'functions-storage'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: 'stfunc${resourceToken}'
    deploymentContainerName: deploymentContainerName
    publicAccess: !restrictNetwork
    skuName: storageSku
    workspaceId: monitoring.outputs.workspaceId
  }
}

// The Functions host and the Durable task hub use blobs, queues and tables of the host account.
module hostStorageRoles 'modules/roles.bicep' = {
  name: 'roles-functions-storage'
  scope: rg
  params: {
    accountName: hostStorage.outputs.accountName
    assignments: [
      {
        principalId: identity.outputs.functionPrincipalId
        roleId: roles.blobDataOwner
        principalType: 'ServicePrincipal'
        why: 'Functions host: leases, app package, Durable task hub blobs'
      }
      {
        principalId: identity.outputs.functionPrincipalId
        roleId: roles.queueDataContributor
        principalType: 'ServicePrincipal'
        why: 'Durable task hub: control and work-item queues'
      }
      {
        principalId: identity.outputs.functionPrincipalId
        roleId: roles.tableDataContributor
        principalType: 'ServicePrincipal'
        why: 'Durable task hub: history and instance tables'
      }
    ]
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: 'cosmos-${resourceToken}'
    serverless: cosmosServerless
    publicAccess: !restrictNetwork
    functionPrincipalId: identity.outputs.functionPrincipalId
    readerPrincipalId: principalId
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    vaultName: 'kv-${resourceToken}'
    purgeProtection: keyVaultPurgeProtection
    publicAccess: !restrictNetwork
    functionPrincipalId: identity.outputs.functionPrincipalId
    adminPrincipalId: principalId
    adminPrincipalType: principalType
    workspaceId: monitoring.outputs.workspaceId
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: tags
    registryName: 'cr${resourceToken}'
    batchPrincipalId: identity.outputs.batchPrincipalId
    builderPrincipalId: principalId
    builderPrincipalType: principalType
    workspaceId: monitoring.outputs.workspaceId
  }
}

module batch 'modules/batch.bicep' = {
  name: 'batch'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: 'ba${resourceToken}'
    vmSize: batchVmSize
    useSpot: useSpotNodes
    maxNodes: batchMaxNodes
    taskSlotsPerNode: batchTaskSlotsPerNode
    registryLoginServer: registry.outputs.loginServer
    workerImage: workerImage
    batchIdentityId: identity.outputs.batchIdentityId
    subnetId: network.outputs.batchSubnetId
    rawAccountName: zoneAccounts[indexOf(zoneNames, 'raw')].outputs.accountName
    extractedAccountName: zoneAccounts[indexOf(zoneNames, 'extracted')].outputs.accountName
    functionPrincipalId: identity.outputs.functionPrincipalId
    publicAccess: !restrictNetwork
    workspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: 'plan-${resourceToken}'
    appName: 'func-${resourceToken}'
    identityId: identity.outputs.functionIdentityId
    identityClientId: identity.outputs.functionClientId
    hostStorageAccountName: hostStorage.outputs.accountName
    hostStorageBlobEndpoint: hostStorage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    subnetId: network.outputs.functionSubnetId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    maximumInstanceCount: functionMaxInstances
    instanceMemoryMB: functionInstanceMemoryMB
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    storageAccountUrls: storageAccountUrls
    batchAccountUrl: batch.outputs.accountUrl
    batchPoolId: batch.outputs.poolId
    // The tasks run exactly the image the pool pre-pulls, as the pool's identity.
    batchWorkerImage: '${registry.outputs.loginServer}/${workerImage}'
    batchRegistryServer: registry.outputs.loginServer
    batchIdentityId: identity.outputs.batchIdentityId
    batchIdentityClientId: identity.outputs.batchClientId
    apiKeysVaultName: apiKeysFromKeyVault ? 'kv-${resourceToken}' : ''
    // From the module's output, so the app's settings follow the secret they reference.
    keyVaultName: keyVault.outputs.vaultName
    apiTrustClientPrincipal: apiTrustClientPrincipal
    workspaceId: monitoring.outputs.workspaceId
  }
  // The app starts with its data roles in place, so the first run does not fail on a 403.
  dependsOn: [
    hostStorageRoles
    zoneRoles
  ]
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    location: location
    tags: tags
    topicName: 'evgt-landing-${resourceToken}'
    landingAccountId: zoneAccounts[indexOf(zoneNames, 'landing')].outputs.accountId
    labeledTopicName: 'evgt-labeled-${resourceToken}'
    labeledAccountId: zoneAccounts[indexOf(zoneNames, 'labeled')].outputs.accountId
    functionAppId: functionApp.outputs.appId
    subscriptionEnabled: eventSubscriptionEnabled
    deadLetterAccountName: zoneAccounts[errorZoneIndex].outputs.accountName
    deadLetterContainer: deadLetterContainer
    workspaceId: monitoring.outputs.workspaceId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'avops-${resourceToken}'
    workspaceId: monitoring.outputs.workspaceId
    expectedRunMinutes: expectedRunMinutes
    alertEmail: alertEmail
  }
}

// Private endpoints: every zone account (blob), the host account (blob, queue, table), Cosmos DB,
// Key Vault and the Batch account (the app's job API, the nodes' node management). Only with
// restrictNetwork; without it every service is reached publicly, except the NFS accounts (raw,
// extracted), which only allow the Batch and Function App subnets.
var zoneEndpoints = [
  for z in zones: {
    name: 'pe-st-${z.name}'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Storage/storageAccounts', 'st${z.name}${resourceToken}')
    groupId: 'blob'
    dnsZone: 'blob'
  }
]
var hostEndpoints = [
  for sub in ['blob', 'queue', 'table']: {
    name: 'pe-stfunc-${sub}'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Storage/storageAccounts', 'stfunc${resourceToken}')
    groupId: sub
    dnsZone: sub
  }
]
var serviceEndpoints = [
  {
    name: 'pe-cosmos'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.DocumentDB/databaseAccounts', 'cosmos-${resourceToken}')
    groupId: 'Sql'
    dnsZone: 'cosmos'
  }
  {
    name: 'pe-keyvault'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.KeyVault/vaults', 'kv-${resourceToken}')
    groupId: 'vault'
    dnsZone: 'vault'
  }
  {
    name: 'pe-batch-account'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Batch/batchAccounts', 'ba${resourceToken}')
    groupId: 'batchAccount'
    dnsZone: 'batch'
  }
  {
    name: 'pe-batch-nodes'
    serviceId: resourceId(subscription().subscriptionId, rg.name, 'Microsoft.Batch/batchAccounts', 'ba${resourceToken}')
    groupId: 'nodeManagement'
    dnsZone: 'batch'
  }
]

module privateEndpoints 'modules/private-endpoint.bicep' = [
  for ep in concat(zoneEndpoints, hostEndpoints, serviceEndpoints): if (restrictNetwork) {
    name: ep.name
    scope: rg
    params: {
      location: location
      tags: tags
      name: '${ep.name}-${resourceToken}'
      serviceId: ep.serviceId
      groupId: ep.groupId
      subnetId: network.outputs.privateEndpointSubnetId
      dnsZoneId: network.outputs.dnsZoneIds[ep.dnsZone]
    }
    // The endpoints connect to services created by these modules.
    dependsOn: [
      zoneAccounts
      hostStorage
      cosmos
      keyVault
      batch
    ]
  }
]

// Outputs become azd environment values (azd env get-values), used by the hooks and the guide.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.appName
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.hostName}'
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.registryName
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AVOPS_WORKER_IMAGE string = workerImage
output AVOPS_BATCH_IDENTITY_ID string = identity.outputs.batchIdentityId
output AVOPS_BATCH_IDENTITY_CLIENT_ID string = identity.outputs.batchClientId
output AVOPS_STORAGE_ACCOUNT_URLS string = string(storageAccountUrls)
output AVOPS_LANDING_ACCOUNT_URL string = storageAccountUrls.landing
output AVOPS_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AVOPS_BATCH_ACCOUNT_URL string = batch.outputs.accountUrl
output AVOPS_BATCH_POOL_ID string = batch.outputs.poolId
output AVOPS_EVENT_TOPIC_ID string = eventGrid.outputs.topicId
output AVOPS_LOG_ANALYTICS_WORKSPACE string = monitoring.outputs.workspaceName
output AVOPS_KEY_VAULT_URI string = keyVault.outputs.vaultUri
output AVOPS_ALERT_RULE_ID string = alerts.outputs.alertRuleId
