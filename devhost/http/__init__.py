"""HTTP side of devhost: ``/api`` routes, the durabletask webhooks and the dashboard."""
