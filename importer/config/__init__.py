"""The config part."""
