// Log Analytics workspace, workspace-based Application Insights (local auth off: the app sends
// telemetry with its managed identity) and the saved queries of infra/queries/.

@description('Azure region of the monitoring resources.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Days Log Analytics keeps logs and metrics (30 is included in the ingestion price).')
@minValue(30)
@maxValue(730)
param retentionDays int = 30

@description('Principal id of the Function App identity; gets Monitoring Metrics Publisher to send telemetry without a key.')
param functionPrincipalId string

// Monitoring Metrics Publisher: the role Entra-authenticated telemetry ingestion requires.
var metricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

module appInsights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'app-insights'
  params: {
    name: appInsightsName
    location: location
    tags: tags
    workspaceResourceId: workspace.id
    applicationType: 'web'
    kind: 'web'
    // No instrumentation-key ingestion: only identities with Monitoring Metrics Publisher write.
    disableLocalAuth: true
    roleAssignments: [
      {
        principalId: functionPrincipalId
        principalType: 'ServicePrincipal'
        roleDefinitionIdOrName: metricsPublisherRoleId
      }
    ]
  }
}

// Saved as workspace functions so operators call them by name: avops_measurement('<id>').
var savedQueries = [
  {
    name: 'avops-measurement'
    displayName: 'AVOps: everything about one measurement'
    functionAlias: 'avops_measurement'
    functionParameters: 'measurementId:string'
    query: loadTextContent('../queries/measurement.kql')
  }
  {
    name: 'avops-failed-runs-today'
    displayName: 'AVOps: failed runs today'
    functionAlias: 'avops_failed_runs_today'
    functionParameters: ''
    query: loadTextContent('../queries/failed-runs-today.kql')
  }
  {
    name: 'avops-slow-runs'
    displayName: 'AVOps: runs slower than expected'
    functionAlias: 'avops_slow_runs'
    functionParameters: 'expectedMinutes:int = 60'
    query: loadTextContent('../queries/slow-runs.kql')
  }
]

resource savedSearches 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = [
  for query in savedQueries: {
    parent: workspace
    name: query.name
    properties: {
      category: 'AVOps DataOps'
      displayName: query.displayName
      query: query.query
      functionAlias: query.functionAlias
      functionParameters: empty(query.functionParameters) ? null : query.functionParameters
      version: 2
    }
  }
]

// The workspace's own audit log (who queried what) and metrics, into itself. Application
// Insights is workspace-based: its telemetry is already stored here.
resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: workspace.id
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

@description('Resource id of the Log Analytics workspace.')
output workspaceId string = workspace.id
@description('Name of the Log Analytics workspace.')
output workspaceName string = workspace.name
@description('Resource id of the Application Insights component.')
output appInsightsId string = appInsights.outputs.resourceId
@description('Application Insights connection string (an ingestion address, not a credential: local auth is off).')
output appInsightsConnectionString string = appInsights.outputs.connectionString
