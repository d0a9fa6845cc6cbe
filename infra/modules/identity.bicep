// User-assigned managed identities: one per workload, so each gets only the roles it needs and a
// role can be reviewed by asking "who is this identity?" rather than "what does this app do?".
// The Event Grid topics use their system-assigned identities instead (eventgrid.bicep): only
// those pass the storage firewall's trusted-service exception.

@description('Azure region of the identities.')
param location string

@description('Tags applied to every identity.')
param tags object

@description('Name of the identity the Function App runs as.')
param functionIdentityName string

@description('Name of the identity the Batch pool nodes run as (image pull, blob access).')
param batchIdentityName string

module functionIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity-function'
  params: {
    name: functionIdentityName
    location: location
    tags: tags
  }
}

module batchIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity-batch'
  params: {
    name: batchIdentityName
    location: location
    tags: tags
  }
}

@description('Resource id of the Function App identity.')
output functionIdentityId string = functionIdentity.outputs.resourceId
@description('Principal (object) id of the Function App identity, for role assignments.')
output functionPrincipalId string = functionIdentity.outputs.principalId
@description('Client id of the Function App identity (AZURE_CLIENT_ID, __clientId settings).')
output functionClientId string = functionIdentity.outputs.clientId

@description('Resource id of the Batch pool identity.')
output batchIdentityId string = batchIdentity.outputs.resourceId
@description('Principal id of the Batch pool identity.')
output batchPrincipalId string = batchIdentity.outputs.principalId
@description('Client id of the Batch pool identity (tasks use it through IMDS).')
output batchClientId string = batchIdentity.outputs.clientId
