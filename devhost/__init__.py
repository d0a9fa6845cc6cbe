"""devhost: the local Functions host and the ``avops`` CLI (no Azure account, Docker or Core Tools)."""
