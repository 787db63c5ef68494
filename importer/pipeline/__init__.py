"""The pipeline part."""
