"""The package version, in a module of its own so any layer can read it without importing
the package's public API (which reaches every analysis)."""

__version__ = "0.1.0"
