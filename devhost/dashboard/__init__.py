"""The monitor dashboard: the local stand-in for the Durable Functions Monitor."""
