"""The Durable Task engine of devhost: DF 1.x out-of-process JSON protocol, persisted in SQLite."""
