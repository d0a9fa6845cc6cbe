// Key Vault for the few secrets an operator may add later (for example a partner's API key for
// the enrichment step), read by the app as Key Vault references with its identity. The app
// itself needs no secret: every Azure service it calls accepts its managed identity.

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object

@description('Name of the vault (3-24 characters).')
@minLength(3)
@maxLength(24)
param vaultName string

@description('Reachable from the internet (Entra-only). Off: private endpoint only.')
param publicAccess bool = false

@description('Purge protection: a deleted vault cannot be purged before its 90 days are over (production). Once on, it cannot be turned off.')
param purgeProtection bool = true

@description('Principal id of the Function App identity (Key Vault Secrets User).')
param functionPrincipalId string

@description('Object id of the person or pipeline that manages secrets (Key Vault Secrets Officer); empty for none.')
param adminPrincipalId string = ''

@description('Principal type of adminPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param adminPrincipalType string = 'User'

@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The service accepts only true or nothing here.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: publicAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: publicAccess ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource functionSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionPrincipalId, secretsUserRoleId)
  scope: vault
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
  }
}

resource adminSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(adminPrincipalId)) {
  name: guid(vault.id, adminPrincipalId, secretsOfficerRoleId)
  scope: vault
  properties: {
    principalId: adminPrincipalId
    principalType: adminPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRoleId)
  }
}

// Diagnostic logs and metrics to the workspace.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
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

@description('Resource id of the vault.')
output vaultId string = vault.id
@description('Vault URI.')
output vaultUri string = vault.properties.vaultUri
