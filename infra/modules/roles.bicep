// Role assignments on one storage account, or on one container of it when containerName is set
// (the narrowest scope Azure RBAC offers for blob data).

@description('Storage account the roles apply to.')
param accountName string

@description('Container to scope the roles to; empty for the whole account.')
param containerName string = ''

@description('Assignments: [{ principalId, roleId (built-in role GUID), principalType, why }].')
param assignments array

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: empty(containerName) ? 'unused' : containerName
}

resource onAccount 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in assignments: if (empty(containerName)) {
    name: guid(account.id, a.principalId, a.roleId)
    scope: account
    properties: {
      principalId: a.principalId
      principalType: a.principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      description: a.why
    }
  }
]

resource onContainer 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in assignments: if (!empty(containerName)) {
    name: guid(account.id, containerName, a.principalId, a.roleId)
    scope: container
    properties: {
      principalId: a.principalId
      principalType: a.principalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      description: a.why
    }
  }
]
