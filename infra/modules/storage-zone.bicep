// One storage zone: a StorageV2 account with hierarchical namespace, Entra-only access (no shared
// key), soft delete, lifecycle rules, and one container named after the zone. main.bicep deploys
// this module once per zone of dataops.paths.Zone.

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('The zone, which is also the name of its container (landing, raw, archive, ...).')
param zone string

@description('Containers besides the zone\'s own (for example the Event Grid dead-letter container).')
param extraContainers array = []

@description('Replication; NFS 3.0 accounts support only LRS and ZRS.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
param skuName string = 'Standard_LRS'

@description('Enable NFS 3.0 so Batch nodes mount the container (network-authorized, from allowedSubnetIds only).')
param nfsV3 bool = false

@description('Subnets allowed through their storage service endpoint on an NFS account (the Batch nodes for NFS, the Function App for the blob API when there is no private endpoint).')
param allowedSubnetIds array = []

@description('Reachable from the internet (still Entra-only). Off: private endpoint and allowed subnets only.')
param publicAccess bool = false

@description('Let trusted Azure services reach a private account with their system-assigned identity (Event Grid writing dead letters). Keeps the public endpoint on with everything else denied.')
param trustedServiceAccess bool = false

@description('Days each blob of the zone container stays immutable (WORM, time-based retention from its creation); 0: no immutability policy. Created unlocked: lock it with the CLI for compliance (irreversible).')
@minValue(0)
param immutabilityDays int = 0

@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

@description('Days deleted blobs and containers stay restorable.')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 14

@description('Delete blobs this many days after their last change (0: keep forever).')
@minValue(0)
param retentionDays int = 0

@description('Move blobs to the Cool tier this many days after their last change (0: stay Hot).')
@minValue(0)
param coolAfterDays int = 0

@description('Delete blobs of the zone container that nobody finished or picked up after this many days (0: never). For landing: uploads whose manifest never arrived.')
@minValue(0)
param abandonedAfterDays int = 0

// Each rule is built only when its parameter asks for it; an empty policy is not deployed.
var coolAction = coolAfterDays > 0 ? { tierToCool: { daysAfterModificationGreaterThan: coolAfterDays } } : {}
var retentionRules = retentionDays > 0
  ? [
      {
        enabled: true
        name: 'age-out'
        type: 'Lifecycle'
        definition: {
          filters: {
            blobTypes: [
              'blockBlob'
            ]
          }
          actions: {
            baseBlob: union(coolAction, { delete: { daysAfterModificationGreaterThan: retentionDays } })
          }
        }
      }
    ]
  : []
var coolOnlyRules = retentionDays == 0 && coolAfterDays > 0
  ? [
      {
        enabled: true
        name: 'cool-down'
        type: 'Lifecycle'
        definition: {
          filters: {
            blobTypes: [
              'blockBlob'
            ]
          }
          actions: {
            baseBlob: coolAction
          }
        }
      }
    ]
  : []
// Ingest deletes every upload it verified, so whatever is still in the zone container after
// abandonedAfterDays is a partial upload (files without a manifest) or one nobody can process.
// Uncommitted blocks of interrupted uploads are discarded by the service itself after 7 days.
var abandonedRules = abandonedAfterDays > 0
  ? [
      {
        enabled: true
        name: 'clean-abandoned-uploads'
        type: 'Lifecycle'
        definition: {
          filters: {
            blobTypes: [
              'blockBlob'
            ]
            prefixMatch: [
              '${zone}/'
            ]
          }
          actions: {
            baseBlob: {
              delete: {
                daysAfterModificationGreaterThan: abandonedAfterDays
              }
            }
          }
        }
      }
    ]
  : []
var lifecycleRules = concat(retentionRules, coolOnlyRules, abandonedRules)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  tags: union(tags, { 'avops-zone': zone })
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    isHnsEnabled: true
    isNfsV3Enabled: nfsV3
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    // NFS 3.0 traffic is not TLS; the service requires secure transfer off on NFS accounts.
    supportsHttpsTrafficOnly: !nfsV3
    // An NFS account is reached from allowed subnets' service endpoints, and trusted services
    // reach an account through the AzureServices bypass: both need the public endpoint enabled
    // with a deny-by-default rule set (a disabled endpoint ignores rules and bypass alike).
    publicNetworkAccess: publicAccess || nfsV3 || trustedServiceAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: publicAccess && !nfsV3 ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: nfsV3 ? map(allowedSubnetIds, id => { id: id, action: 'Allow' }) : []
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Blob soft delete is left off on NFS 3.0 accounts, where the service did not support it
    // when this was written; container soft delete still protects them.
    deleteRetentionPolicy: {
      enabled: !nfsV3
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in concat([zone], extraContainers): {
    parent: blobService
    name: name
    properties: {
      publicAccess: 'None'
    }
  }
]

// WORM on the zone container: blobs cannot be changed or deleted (nor the account removed while
// it holds protected blobs) until their retention is over. Hierarchical-namespace accounts take
// container-level policies; a legal hold is set and cleared with the CLI, by case.
resource immutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (immutabilityDays > 0) {
  parent: containers[0]
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: immutabilityDays
    allowProtectedAppendWrites: false
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (!empty(lifecycleRules)) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: lifecycleRules
    }
  }
}

// Account metrics, and the blob service's read, write and delete logs.
resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

@description('Name of the storage account.')
output accountName string = account.name
@description('Resource id of the storage account.')
output accountId string = account.id
@description('Blob endpoint of the account without a trailing slash (what AVOPS_STORAGE_ACCOUNT_URLS holds).')
output blobUrl string = 'https://${account.name}.blob.${environment().suffixes.storage}'
