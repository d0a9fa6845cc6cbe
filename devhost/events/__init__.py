"""Event sources of devhost: Event Grid over Azurite, change feed, timers, and their delivery."""
