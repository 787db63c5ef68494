"""Shared fixtures: a running sandbox, sample files, a tmp output folder."""

from __future__ import annotations

# --- sandbox fixtures (owned by the sandbox work) ---
# --- end sandbox fixtures ---
