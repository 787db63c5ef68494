"""The sandbox part."""
