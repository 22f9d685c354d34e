"""Shared test helpers (a generated local website for crawler tests)."""
