"""The package version, in the lowest layer so that any module may record it without importing
the package root (pyproject.toml holds the same string; tests/test_architecture.py ties them)."""

__version__ = "0.1.0"
