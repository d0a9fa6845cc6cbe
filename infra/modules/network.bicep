// Virtual network: the Function App integrates into one subnet, Batch nodes live in another
// (their NFS mounts are authorized by that subnet), private endpoints go into a third. Private DNS
// zones make each service's normal host name resolve to its private endpoint inside the network.

@description('Azure region of the network.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the virtual network.')
param vnetName string

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Log Analytics workspace that receives the diagnostic logs and metrics.')
param workspaceId string

var functionSubnetName = 'snet-function'
var privateEndpointSubnetName = 'snet-private-endpoints'
var batchSubnetName = 'snet-batch'

// Public-cloud private link zones; storage follows the cloud's own suffix.
var dnsZoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  cosmos: 'privatelink.documents.azure.com'
  vault: 'privatelink.vaultcore.azure.net'
  // The Batch account's two private endpoints (batchAccount, nodeManagement) share one zone.
  batch: 'privatelink.batch.azure.com'
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${vnetName}-nsg'
  location: location
  tags: tags
  // The default rules (VNet in, load balancer in, deny the rest) are what every subnet needs:
  // Batch pools use simplified node communication, which opens no inbound port.
  properties: {
    securityRules: []
  }
}

// Outbound calls that have no private endpoint leave through one NAT gateway with a fixed
// address, which partners and firewalls can allow-list; Azure's implicit default outbound access
// is being retired. The app's (Event Grid, Application Insights ingestion, the registry) and the
// Batch nodes' (they have no public IP: the image pull, and the Batch node management endpoint
// when the account is public).
resource natIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: '${vnetName}-nat-ip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

resource nat 'Microsoft.Network/natGateways@2024-05-01' = {
  name: '${vnetName}-nat'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIpAddresses: [
      {
        id: natIp.id
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: functionSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          networkSecurityGroup: {
            id: nsg.id
          }
          natGateway: {
            id: nat.id
          }
          // Without private endpoints (restrictNetwork off) the app reaches the NFS accounts,
          // which deny everything but allowed subnets, through this service endpoint.
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
          ]
          // Flex Consumption integrates through a subnet delegated to Container Apps environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: batchSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 22, 1)
          networkSecurityGroup: {
            id: nsg.id
          }
          natGateway: {
            id: nat.id
          }
          // NFS 3.0 on Blob is authorized by network rules: the raw and extracted accounts allow
          // this subnet through its storage service endpoint.
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
          ]
        }
      }
    ]
  }
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for zone in items(dnsZoneNames): {
    name: zone.value
    location: 'global'
    tags: tags
  }
]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (zone, i) in items(dnsZoneNames): {
    parent: dnsZones[i]
    name: '${vnetName}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

// Diagnostics: NSG events, VNet protection alerts and metrics, NAT and public IP metrics.
resource nsgDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: nsg
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource vnetDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vnet
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

resource natDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: nat
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource natIpDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: natIp
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

@description('Resource id of the virtual network.')
output vnetId string = vnet.id
@description('Subnet the Function App integrates into.')
output functionSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, functionSubnetName)
@description('Subnet for private endpoints.')
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointSubnetName)
@description('Subnet of the Batch pool nodes.')
output batchSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, batchSubnetName)
@description('Private DNS zone ids by service: blob, queue, table, cosmos, vault, batch.')
output dnsZoneIds object = {
  blob: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.blob)
  queue: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.queue)
  table: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.table)
  cosmos: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.cosmos)
  vault: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.vault)
  batch: resourceId('Microsoft.Network/privateDnsZones', dnsZoneNames.batch)
}
