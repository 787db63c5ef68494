"""The clean part."""
