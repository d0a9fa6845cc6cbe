"""The AVOps DataOps client: the ``avops`` command line and the typed Metadata API client.

``avops.client.ApiClient`` is the one way the commands (and your own scripts) talk to a running
platform: devhost locally (found through ``.avops/connection.json``) or the Function App in Azure.
"""
