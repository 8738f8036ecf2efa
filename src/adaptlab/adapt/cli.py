"""`adaptlab methods` (every registered method) and `adaptlab merge` (an adapter folded into its base)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)


def list_methods() -> None:
    """Every method `finetune --method` takes, with the run kind it writes and its settings."""
    from adaptlab import registry

    for method in registry.methods().values():
        knobs = ", ".join(f for f in method.settings.model_fields if f != "name") or "none"
        out.print(f"{method.name}: {method.summary} (runs: {method.run_kind}; settings: {knobs})", highlight=False)


def merge_adapter(
    run: Annotated[Path, typer.Argument(help="A run folder holding a LoRA/DoRA adapter.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder for the merged full model.")],
) -> None:
    """Fold a LoRA adapter into its base weights: a plain model folder any tool loads."""
    from adaptlab.runs import merge_run

    merge_run(run, out_dir)
    out.print(f"merged model written to {out_dir}", highlight=False)
