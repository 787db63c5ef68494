"""The record part."""
