"""The frame index: one row per reference frame, as Delta tables in the curated zone."""
