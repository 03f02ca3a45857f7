"""The package's version, on the ground floor so every layer can record it without importing the package's front."""

__version__ = "0.1.0"
