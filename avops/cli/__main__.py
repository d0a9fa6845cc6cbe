"""``python -m avops.cli``."""

from avops.cli import main

main()
