"""The send part."""
