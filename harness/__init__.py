"""meek-harness: how fast and how good are quantised open-weight models on this machine."""

from harness.version import __version__

__all__ = ["__version__", "load_results", "load_scores"]
_LAZY = ("load_results", "load_scores")


def __getattr__(name: str):
    """`harness.load_results()` and `harness.load_scores()`, imported on first use so `meek` starts without pandas."""
    if name in _LAZY:
        from harness.aggregate import tree as aggregate

        return getattr(aggregate, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
