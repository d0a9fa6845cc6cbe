"""Label import: take a partner's label file, check it, then reject it or register its labels."""
