// Azure Batch account and the extraction pool: Docker-compatible nodes without public IPs that
// pull the extract_worker image from the registry with their managed identity, mount the raw and
// extracted zones over NFS 3.0, and scale with the number of pending tasks (zero when idle).

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Batch account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('Id of the extraction pool (AVOPS_BATCH_POOL_ID).')
param poolId string = 'extraction'

@description('VM size of the nodes; extraction is CPU- and I/O-bound, so general-purpose with local disk.')
param vmSize string = 'Standard_D4ds_v5'

@description('Run on Spot (low-priority) nodes: far cheaper, may be evicted; Batch requeues evicted tasks and every task is idempotent.')
param useSpot bool = true

@description('Most nodes the autoscale formula asks for (also bounded by the account\'s core quota).')
@minValue(1)
param maxNodes int = 10

@description('Tasks that run at once on one node.')
@minValue(1)
param taskSlotsPerNode int = 2

@description('Marketplace image with a Docker-compatible runtime and its Batch node agent.')
param image object = {
  publisher: 'microsoft-dsvm'
  offer: 'ubuntu-hpc'
  sku: '2404'
  version: 'latest'
  nodeAgentSkuId: 'batch.node.ubuntu 24.04'
}

@description('Registry login server the worker image is pulled from.')
param registryLoginServer string

@description('Worker image reference inside the registry, e.g. avops-extract-worker:latest.')
param workerImage string

@description('Resource id of the pool identity (AcrPull on the registry, blob roles on raw and extracted).')
param batchIdentityId string

@description('Subnet of the nodes; the raw and extracted accounts allow NFS from it.')
param subnetId string

@description('Storage account of the raw zone (mounted read-only by convention at $AZ_BATCH_NODE_MOUNTS_DIR/raw).')
param rawAccountName string

@description('Storage account of the extracted zone (mounted at $AZ_BATCH_NODE_MOUNTS_DIR/extracted).')
param extractedAccountName string

@description('Reachable from the internet (Entra-only): the app submits and nodes call node management over public endpoints (the nodes through the NAT gateway). Off: only through the private endpoints batchAccount and nodeManagement.')
param publicAccess bool = false

@description('Principal id of the Function App identity, which submits jobs and tasks.')
param functionPrincipalId string

// Azure Batch Job Submitter: jobs and tasks (data actions) and reading pools; no pool or
// account changes.
@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var jobSubmitterRoleId = '48e5e92e-a480-4e71-aa9c-2778f4c13781'
var blobSuffix = 'blob.${environment().suffixes.storage}'
var nfsOptions = '-o sec=sys,vers=3,nolock,proto=tcp'

// $PendingTasks counts active and running tasks. When fewer than 70% of the last five minutes'
// samples are in, trust only the newest one; otherwise take the larger of newest and average, so
// a burst scales up at once and a lull scales down gradually. Nodes finish their tasks first.
var autoscaleFormula = join(
  [
    '$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);'
    '$pending = $samples < 70 ? max(0, $PendingTasks.GetSample(1)) : max($PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));'
    '$wanted = min(${maxNodes}, ceil($pending / ${taskSlotsPerNode}));'
    '$TargetDedicatedNodes = ${useSpot ? '0' : '$wanted'};'
    '$TargetLowPriorityNodes = ${useSpot ? '$wanted' : '0'};'
    '$NodeDeallocationOption = taskcompletion;'
  ],
  '\n'
)

resource account 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: accountName
  location: location
  tags: tags
  properties: {
    poolAllocationMode: 'BatchService'
    publicNetworkAccess: publicAccess ? 'Enabled' : 'Disabled'
    // Entra ID for the app and operators, task tokens for tasks; shared keys are refused.
    allowedAuthenticationModes: [
      'AAD'
      'TaskAuthenticationToken'
    ]
  }
}

resource pool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: account
  name: poolId
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${batchIdentityId}': {}
    }
  }
  properties: {
    displayName: 'AVOps extraction (extract_worker container)'
    vmSize: vmSize
    taskSlotsPerNode: taskSlotsPerNode
    taskSchedulingPolicy: {
      nodeFillType: 'Pack'
    }
    interNodeCommunication: 'Disabled'
    targetNodeCommunicationMode: 'Simplified'
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: {
          publisher: image.publisher
          offer: image.offer
          sku: image.sku
          version: image.version
        }
        nodeAgentSkuId: image.nodeAgentSkuId
        containerConfiguration: {
          type: 'DockerCompatible'
          // Pulled when a node starts, so the first task does not wait for the image.
          containerImageNames: [
            '${registryLoginServer}/${workerImage}'
          ]
          containerRegistries: [
            {
              registryServer: registryLoginServer
              identityReference: {
                resourceId: batchIdentityId
              }
            }
          ]
        }
      }
    }
    // No public IP on any node: simplified node communication is outbound only (to the node
    // management endpoint, private or through the subnet's NAT gateway), and nothing inbound.
    networkConfiguration: {
      subnetId: subnetId
      publicIPAddressConfiguration: {
        provision: 'NoPublicIPAddresses'
      }
    }
    mountConfiguration: [
      {
        nfsMountConfiguration: {
          source: '${rawAccountName}.${blobSuffix}:/${rawAccountName}/raw'
          relativeMountPath: 'raw'
          mountOptions: nfsOptions
        }
      }
      {
        nfsMountConfiguration: {
          source: '${extractedAccountName}.${blobSuffix}:/${extractedAccountName}/extracted'
          relativeMountPath: 'extracted'
          mountOptions: nfsOptions
        }
      }
    ]
    scaleSettings: {
      autoScale: {
        formula: autoscaleFormula
        evaluationInterval: 'PT5M'
      }
    }
  }
}

resource jobSubmitter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, functionPrincipalId, jobSubmitterRoleId)
  scope: account
  properties: {
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', jobSubmitterRoleId)
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
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Resource id of the Batch account.')
output accountId string = account.id
@description('Batch account URL (AVOPS_BATCH_ACCOUNT_URL).')
output accountUrl string = 'https://${account.properties.accountEndpoint}'
@description('Id of the extraction pool.')
output poolId string = pool.name
