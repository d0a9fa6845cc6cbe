"""The Data Explorer: web pages over the Metadata API and the curated zone's tables.

Served by the Function App's own HTTP triggers (``dataops.api`` route table): server-rendered
pages (catalog, measurement, search, labeling) and the drive view, whose script reads the
drive's JSON data routes. No azure-functions here. docs/explorer.md describes it.
"""

from __future__ import annotations
