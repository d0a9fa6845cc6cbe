// Cosmos DB for NoSQL: the metadata store of the cosmos backend. The database and containers
// here are exactly what dataops/store/cosmos_setup.py would create (tests/infra checks it), so
// the app only ever reads them; keys are disabled and the app writes with its identity through
// the built-in Data Contributor role.

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Name of the Cosmos DB account.')
param accountName string

@description('Database name (AVOPS_COSMOS_DATABASE).')
param databaseName string = 'avops'

@description('Serverless (pay per request, good below ~1M requests a day) or provisioned autoscale throughput.')
param serverless bool = true

@description('Autoscale maximum RU/s shared by the database when not serverless.')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Reachable from the internet (Entra-only). Off: private endpoint only.')
param publicAccess bool = false

@description('Principal id of the Function App identity (Data Contributor).')
param functionPrincipalId string

@description('Object id of a person or pipeline that may read the metadata (Data Reader); empty for none.')
param readerPrincipalId string = ''

// Mirrors dataops/store/cosmos_setup.py: PARTITION_KEY_PATH for the store containers, the
// composite indexes its ORDER BY queries need, /id for the change feed lease container.
@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var containers = [
  {
    name: 'measurements'
    partitionKeyPath: '/measurement_id'
    excludedPaths: []
    compositeIndexes: [
      [
        { path: '/idx/start', order: 'descending' }
        { path: '/id', order: 'descending' }
      ]
    ]
  }
  {
    name: 'datastreams'
    partitionKeyPath: '/measurement_id'
    excludedPaths: []
    compositeIndexes: [
      [
        { path: '/idx/created', order: 'ascending' }
        { path: '/id', order: 'ascending' }
      ]
    ]
  }
  {
    name: 'files'
    partitionKeyPath: '/measurement_id'
    // File metadata (topics, counts) is returned, never filtered on.
    excludedPaths: [
      { path: '/record/meta/*' }
    ]
    compositeIndexes: []
  }
  {
    name: 'scenes'
    partitionKeyPath: '/measurement_id'
    excludedPaths: []
    compositeIndexes: [
      [
        { path: '/idx/start', order: 'ascending' }
        { path: '/id', order: 'ascending' }
      ]
    ]
  }
  {
    name: 'leases'
    partitionKeyPath: '/id'
    excludedPaths: []
    compositeIndexes: []
  }
]

// Built-in Cosmos DB data-plane roles (not Azure RBAC roles).
var dataReaderRoleId = '00000000-0000-0000-0000-000000000001'
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless
      ? [
          {
            name: 'EnableServerless'
          }
        ]
      : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicAccess ? 'Enabled' : 'Disabled'
    networkAclBypass: 'AzureServices'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for c in containers: {
    parent: database
    name: c.name
    properties: {
      resource: {
        id: c.name
        partitionKey: {
          paths: [
            c.partitionKeyPath
          ]
          kind: 'Hash'
          version: 2
        }
        indexingPolicy: {
          indexingMode: 'consistent'
          automatic: true
          includedPaths: [
            { path: '/*' }
          ]
          excludedPaths: concat(c.excludedPaths, [{ path: '/"_etag"/?' }])
          compositeIndexes: c.compositeIndexes
        }
      }
    }
  }
]

resource functionDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, functionPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: functionPrincipalId
    scope: account.id
  }
}

resource operatorDataReader 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (!empty(readerPrincipalId)) {
  parent: account
  name: guid(account.id, readerPrincipalId, dataReaderRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataReaderRoleId}'
    principalId: readerPrincipalId
    scope: account.id
  }
}

// Diagnostic logs and metrics to the workspace.
resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
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
        category: 'Requests'
        enabled: true
      }
    ]
  }
}

@description('Resource id of the account.')
output accountId string = account.id
@description('Document endpoint (AVOPS_COSMOS_ENDPOINT).')
output endpoint string = account.properties.documentEndpoint
@description('Database name.')
output databaseName string = database.name
