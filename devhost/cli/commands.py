"""Imports every command module so that each registers itself on the ``avops`` app."""

from __future__ import annotations
