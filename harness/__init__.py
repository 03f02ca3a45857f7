"""meek-harness: how fast and how good are quantised open-weight models on this machine."""

__version__ = "0.1.0"
