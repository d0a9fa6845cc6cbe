// One private endpoint for one sub-resource (blob, queue, table, Sql, vault) of one service, with
// the DNS zone group that registers its private address in the matching private DNS zone.

@description('Azure region of the endpoint (the network\'s region).')
param location string

@description('Tags applied to the endpoint.')
param tags object

@description('Name of the private endpoint.')
param name string

@description('Resource id of the service the endpoint connects to.')
param serviceId string

@description('Sub-resource of the service: blob, queue, table, Sql, vault.')
param groupId string

@description('Subnet the endpoint\'s network interface is placed in.')
param subnetId string

@description('Private DNS zone that resolves the service\'s host name to the endpoint.')
param dnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource dnsGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: dnsZoneId
        }
      }
    ]
  }
}

@description('Resource id of the private endpoint.')
output endpointId string = endpoint.id
