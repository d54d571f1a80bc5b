"""The package version, in a leaf module: any layer reads it without importing the top package."""

__version__ = "0.1.0"
