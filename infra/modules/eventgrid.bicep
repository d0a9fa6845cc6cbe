// Event Grid: a system topic on the landing account and the subscription that hands finished
// manifest writes to the ingest function. The filter is the one devhost applies locally from
// infra/eventgrid-subscriptions.json; tests/infra/test_eventgrid_parity.py keeps them equal.
// A second topic on the labeled account hands partners' label files (one container per export,
// `labeled-<export id>`) to the label import; tests/labeling/test_import_trigger.py checks it.

@description('Azure region of the landing account.')
param location string

@description('Tags applied to the topic.')
param tags object

@description('Name of the system topic.')
param topicName string

@description('Resource id of the landing storage account (the topic source).')
param landingAccountId string

@description('Name of the system topic on the labeled account.')
param labeledTopicName string

@description('Resource id of the labeled storage account (partners write label files there).')
param labeledAccountId string

@description('Resource id of the Function App that receives the events.')
param functionAppId string

@description('Create the subscription. Event Grid checks that the target function exists, so the first `azd up` creates it only after the code is deployed (postdeploy hook).')
param subscriptionEnabled bool

@description('Storage account that receives dead-lettered events (the error zone). It denies public access; each topic writes with its system-assigned identity as a trusted service.')
param deadLetterAccountName string

@description('Container for dead-lettered events.')
param deadLetterContainer string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveMinutes int = 1440

@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var subscriptionName = 'landing-manifests'
var targetFunction = 'on_landing_blob_created'
// Only writes that leave a whole, non-empty blob (dataops.events.MANIFEST_APIS): an ADLS Gen2
// CreateFile also raises BlobCreated, for an empty file, before FlushWithClose fills it. The
// function checks the same again; filtering here saves an invocation per partial write.
var manifestFilter = {
  subjectBeginsWith: '/blobServices/default/containers/landing/blobs/'
  subjectEndsWith: '/manifest.json'
  includedEventTypes: [
    'Microsoft.Storage.BlobCreated'
  ]
  isSubjectCaseSensitive: false
  enableAdvancedFilteringOnArrays: true
  advancedFilters: [
    {
      operatorType: 'StringIn'
      key: 'data.api'
      values: [
        'PutBlob'
        'PutBlockList'
        'CopyBlob'
        'FlushWithClose'
      ]
    }
    {
      operatorType: 'NumberGreaterThan'
      key: 'data.contentLength'
      value: 0
    }
  ]
}

var labelSubscriptionName = 'labeled-uploads'
var labelTargetFunction = 'on_labeled_blob_created'
// Every export has its own container, `labeled-<export id>`, created when the export is: the
// subject prefix selects them all. The function skips reports and `_`-files itself.
var labelFilter = {
  subjectBeginsWith: '/blobServices/default/containers/labeled-'
  subjectEndsWith: '.json'
  includedEventTypes: [
    'Microsoft.Storage.BlobCreated'
  ]
  isSubjectCaseSensitive: false
  enableAdvancedFilteringOnArrays: true
  advancedFilters: [
    {
      operatorType: 'StringIn'
      key: 'data.api'
      values: [
        'PutBlob'
        'PutBlockList'
        'CopyBlob'
        'FlushWithClose'
      ]
    }
    {
      operatorType: 'NumberGreaterThan'
      key: 'data.contentLength'
      value: 0
    }
  ]
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: location
  tags: tags
  // System-assigned: only a resource's own identity passes the storage firewall's trusted
  // service exception, which is how dead letters reach the private error account.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: landingAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource deadLetterAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: deadLetterAccountName
}

resource deadLetterBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: deadLetterAccount
  name: 'default'
}

resource deadLetterContainerRef 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: deadLetterBlobs
  name: deadLetterContainer
}

// Storage Blob Data Contributor on the dead-letter container only, for each topic's identity.
var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource landingDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterAccount.id, deadLetterContainer, topicName, blobDataContributorRoleId)
  scope: deadLetterContainerRef
  properties: {
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    description: 'Event Grid (landing topic): write dead-lettered events'
  }
}

resource labeledDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterAccount.id, deadLetterContainer, labeledTopicName, blobDataContributorRoleId)
  scope: deadLetterContainerRef
  properties: {
    principalId: labeledTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    description: 'Event Grid (labeled topic): write dead-lettered events'
  }
}

resource manifestSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: systemTopic
  name: subscriptionName
  dependsOn: [
    landingDeadLetterWriter
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${targetFunction}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: manifestFilter
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterAccount.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

resource labeledTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: labeledTopicName
  location: location
  tags: tags
  // System-assigned: only a resource's own identity passes the storage firewall's trusted
  // service exception, which is how dead letters reach the private error account.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: labeledAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource labelSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: labeledTopic
  name: labelSubscriptionName
  dependsOn: [
    labeledDeadLetterWriter
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${labelTargetFunction}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: labelFilter
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterAccount.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

// Diagnostic logs and metrics to the workspace.
resource systemTopicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: systemTopic
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

resource labeledTopicDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: labeledTopic
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

@description('Resource id of the system topic.')
output topicId string = systemTopic.id
@description('Name of the manifest subscription (empty until it is enabled).')
output subscriptionName string = subscriptionEnabled ? subscriptionName : ''
