"""Local stand-ins for Azure services, started as child processes from node_modules."""
