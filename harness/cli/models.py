"""`meek models list|info|verify`: the model catalogue."""

from __future__ import annotations

import typer

from harness.cli.common import models_app, out, run


@models_app.command("list")
def models_list(tier: str | None = typer.Option(None, "--tier", help="Only this tier.")) -> None:
    """Every model in the catalogue, with its tier, size and whether its file is here."""
    from harness.commands import models as command

    run(lambda: command.list_models(tier, out))


@models_app.command("info")
def models_info(model_id: str = typer.Argument(..., help="Catalogue id or .gguf path.")) -> None:
    """Catalogue facts and, when the file is here, what its GGUF header says."""
    from harness.commands import models as command

    run(lambda: command.info(model_id, out))


@models_app.command("verify")
def models_verify(model_id: str = typer.Argument(..., help="Catalogue id.")) -> None:
    """Fetch the model if needed, then check its GGUF header and its sha256 against the catalogue."""
    from harness.commands import models as command

    run(lambda: command.verify(model_id, out))
