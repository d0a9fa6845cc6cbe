// Alert for orchestration runs that take longer than expected: a scheduled log query over the
// Durable Functions lifecycle traces (infra/queries/slow-runs.kql), one alert per slow instance.

@description('Azure region of the alert rule.')
param location string

@description('Tags applied to the alert resources.')
param tags object

@description('Name prefix of the alert resources.')
param namePrefix string

@description('Resource id of the Log Analytics workspace the app\'s telemetry lands in.')
param workspaceId string

@description('A run is slow after this many minutes (running or finished). Must stay below the 6-hour query window.')
@minValue(1)
@maxValue(300)
param expectedRunMinutes int = 60

@description('E-mail address notified when the alert fires; empty: the alert only shows in the portal.')
param alertEmail string = ''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'avops'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource slowRuns 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-slow-runs'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'AVOps: orchestration runs slower than ${expectedRunMinutes} minutes'
    description: 'An ingest, extract or downstream orchestration instance has been running, or ran, longer than expected. Run avops_measurement() or avops_slow_runs() in the workspace for details.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT15M'
    // The query looks back by itself; the window bounds how long a run can be and still be seen.
    windowSize: 'PT6H'
    autoMitigate: true
    // AppTraces exists only once the app has sent its first trace; validating the query against
    // a new, empty workspace would fail the first deployment.
    skipQueryValidation: true
    criteria: {
      allOf: [
        {
          query: 'let expectedMinutes = ${expectedRunMinutes};\n${loadTextContent('../queries/slow-runs.kql')}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'instanceId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
    }
  }
}

@description('Resource id of the slow-run alert rule.')
output alertRuleId string = slowRuns.id
