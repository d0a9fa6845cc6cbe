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

@description('Resource id of the Event Grid identity (writes dead letters).')
param eventGridIdentityId string

@description('Resource id of the Function App that receives the events.')
param functionAppId string

@description('Create the subscription. Event Grid checks that the target function exists, so the first `azd up` creates it only after the code is deployed (postdeploy hook).')
param subscriptionEnabled bool

@description('Resource id of the storage account that receives dead-lettered events (the error zone).')
param deadLetterAccountId string

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
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: landingAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource manifestSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: systemTopic
  name: subscriptionName
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
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterAccountId
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
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: labeledAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource labelSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: labeledTopic
  name: labelSubscriptionName
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
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterAccountId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

@description('Resource id of the system topic.')
output topicId string = systemTopic.id
@description('Name of the manifest subscription (empty until it is enabled).')
output subscriptionName string = subscriptionEnabled ? subscriptionName : ''
