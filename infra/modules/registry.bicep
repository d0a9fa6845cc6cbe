// Container registry for the extract_worker image. Admin user off: Batch nodes pull with their
// managed identity (AcrPull); azd's postprovision hook builds and pushes with `az acr build`.

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

@description('Object id of the person or pipeline that pushes images (AcrPush); empty for none.')
param pusherPrincipalId string = ''

@description('Principal type of pusherPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param pusherPrincipalType string = 'User'

var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var acrPushRoleId = '8311e382-0749-4cb8-b61a-304f252e45ec'

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

resource pusher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(pusherPrincipalId)) {
  name: guid(registry.id, pusherPrincipalId, acrPushRoleId)
  scope: registry
  properties: {
    principalId: pusherPrincipalId
    principalType: pusherPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPushRoleId)
  }
}

@description('Resource id of the registry.')
output registryId string = registry.id
@description('Registry name (for az acr build).')
output registryName string = registry.name
@description('Login server, e.g. cravops.azurecr.io.')
output loginServer string = registry.properties.loginServer
