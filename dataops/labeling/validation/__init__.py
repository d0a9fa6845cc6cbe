"""Label file checks: a COCO or OpenLABEL file against the export package it answers."""
