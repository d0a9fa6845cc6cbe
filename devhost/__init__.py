"""devhost: the local Functions host and the ``avops`` CLI.

No Azure account, Docker or Functions Core Tools needed.
"""
