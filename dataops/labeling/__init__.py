"""The labeling exchange: export frames as COCO / ASAM OpenLABEL packages, import labels back."""
