"""`python -m harness.cli` runs `meek`."""

from harness.cli import app

app()
