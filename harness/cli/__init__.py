"""The `meek` command: a thin Typer layer over harness/commands/, one module per command group. No logic lives here:
each command declares its options and hands them to its command module (import-linter's contracts keep it so).

Importing a module registers its commands; `meek --help` lists them in this order.
"""

from harness.cli import measure  # noqa: F401, I001  (bench, eval, machine)
from harness.cli import quality  # noqa: F401  (quality)
from harness.cli import models  # noqa: F401  (models list|info|verify)
from harness.cli import results  # noqa: F401  (validate, submit, import, compare, advise)
from harness.cli import frontier  # noqa: F401  (gap, frontier import, plot frontier)
from harness.cli import plots  # noqa: F401  (plot throughput|depth|pareto|roofline)
from harness.cli import report  # noqa: F401  (report, schema)
from harness.cli import serve  # noqa: F401  (serve, serve tokens create)
from harness.cli import record  # noqa: F401  (record pull)
from harness.cli import fit  # noqa: F401  (fit)
from harness.cli.common import app
from harness.cli.help import plain_help

plain_help(app)  # after every command is registered: --help names values in words, not Python types

__all__ = ["app"]
