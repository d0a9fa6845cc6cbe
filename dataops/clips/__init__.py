"""Scene clips: every message of a measurement's recordings inside a time window, as one MCAP."""
