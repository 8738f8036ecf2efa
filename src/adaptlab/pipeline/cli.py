"""`adaptlab pipeline run`: a YAML pipeline on one input, with each stage's time. Heavy imports
stay inside the command so `adaptlab --help` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Chain models, prompts and Python functions; run the chain.")
out = Console(soft_wrap=True)


@app.callback()
def group() -> None:
    """Chain models, prompts and Python functions; run the chain."""  # a group, even with one command


@app.command("run")
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML: stages of lm, function or template.")],
    text: Annotated[str, typer.Argument(help="The input the first stage reads.")],
) -> None:
    """Print the last stage's output, then every stage's seconds."""
    from adaptlab.pipeline.declare import load_pipeline

    result = load_pipeline(pipeline).run(text)
    out.print(escape(result.output), highlight=False)
    width = max(len(stage.name) for stage in result.stages)
    for stage in result.stages:
        out.print(f"[dim]{escape(stage.name.ljust(width))}  {stage.seconds:8.3f} s[/]", highlight=False)
