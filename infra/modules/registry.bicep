// Container registry for the extract_worker image. Admin user off: Batch nodes pull with their
// managed identity (AcrPull); azd's postprovision hook builds and pushes with `az acr build`
// (ACR Tasks), as the deployer, with the Tasks Contributor role granted here. Public endpoint,
// Entra-only: Standard has no private endpoints, and ACR Tasks' shared agents build from outside.

@description('Azure region of the registry.')
param location string

@description('Tags applied to the registry.')
param tags object

@description('Registry name (5-50 letters and digits).')
@minLength(5)
@maxLength(50)
param registryName string

@description('Registry SKU; Premium adds private endpoints and geo-replication.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Principal id of the Batch pool identity (AcrPull).')
param batchPrincipalId string

@description('Object id of the person or pipeline that builds images with ACR Tasks (`az acr build`: Container Registry Tasks Contributor); empty for none.')
param builderPrincipalId string = ''

@description('Principal type of builderPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param builderPrincipalType string = 'User'

@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
// Queues quick builds (scheduleRun, source upload, run logs); the run itself pushes the image
// with the registry's own run token, so the builder needs no AcrPush.
var tasksContributorRoleId = 'fb382eab-e894-4461-af04-94435c366c3f'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource batchPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, batchPrincipalId, acrPullRoleId)
  scope: registry
  properties: {
    principalId: batchPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
  }
}

resource builder 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(builderPrincipalId)) {
  name: guid(registry.id, builderPrincipalId, tasksContributorRoleId)
  scope: registry
  properties: {
    principalId: builderPrincipalId
    principalType: builderPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tasksContributorRoleId)
    description: 'AVOps deployer: az acr build of the worker image (postprovision hook)'
  }
}

// Diagnostic logs and metrics to the workspace.
resource registryDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: registry
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

@description('Resource id of the registry.')
output registryId string = registry.id
@description('Registry name (for az acr build).')
output registryName string = registry.name
@description('Login server, e.g. cravops.azurecr.io.')
output loginServer string = registry.properties.loginServer
