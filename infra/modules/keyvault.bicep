// Key Vault for the few secrets an operator may add later (for example a partner's API key for
// the enrichment step), read by the app as Key Vault references with its identity. Every Azure
// service the app calls accepts its managed identity; the one secret made here is the app's own
// HMAC key for the tokens of Batch jobs' job-done signals (docs/batch.md).

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

// A fresh random key on every deployment (newGuid is only allowed as a parameter default): two
// version-4 GUIDs are 244 random bits, 64 hex characters. Rotating it costs only the signals of
// jobs in flight (their tokens stop matching; their runs find them by polling).
@secure()
@description('HMAC key of the Batch job-done tokens (AVOPS_BATCH_NOTIFY_SECRET); generated, pass one only to pin it.')
param batchNotifySecret string = '${replace(newGuid(), '-', '')}${replace(newGuid(), '-', '')}'

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

// Read by the app as the Key Vault reference in AVOPS_BATCH_NOTIFY_SECRET
// (functionapp.bicep); the name must stay the one that reference names.
resource batchNotifySecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'avops-batch-notify-secret'
  properties: {
    value: batchNotifySecret
    contentType: 'HMAC-SHA256 key of the Batch job-done tokens'
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
@description('Name of the vault (what Key Vault references in app settings name).')
output vaultName string = vault.name
