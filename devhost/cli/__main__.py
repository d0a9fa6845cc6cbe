"""``python -m devhost.cli``."""

from devhost.cli import main

main()
