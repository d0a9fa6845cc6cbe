"""Labeling export: select frames, plan the package, write COCO / ASAM OpenLABEL and copy frames."""
