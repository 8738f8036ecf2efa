"""`adaptlab study run | report`: every method on one base and one domain, side by side.
Heavy imports stay inside the commands so `adaptlab --help` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="The study: prompt, retrieve or fine-tune? Every method measured on one domain.")
out = Console(soft_wrap=True)
DEFAULT_OUT = Path("runs/study")


@app.command("run")
def run(
    study: Annotated[Optional[Path], typer.Argument(help="study.yaml: base, domain, strategies, eval, costs "
                                                         "(default: the default study on the synthetic domain).")]
    = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Study folder: results, report, workspace (kept between "
                                                        "runs: strategies already measured are skipped).")]
    = DEFAULT_OUT,
) -> None:
    """Build and measure each strategy, then write report.md and report.html."""
    from adaptlab.fileio import check_output
    from adaptlab.study.config import load_study
    from adaptlab.study.runner import run_study

    check_output(out_dir, folder=True, what="the study")
    config, settings = load_study(study)
    run_study(config, settings, out_dir, out)


@app.command("report")
def report(
    study_dir: Annotated[Path, typer.Argument(help="A study folder (from `adaptlab study run`).")] = DEFAULT_OUT,
) -> None:
    """Render report.md and report.html again from the saved results."""
    from adaptlab.study.runner import rerender

    md, html = rerender(study_dir)
    out.print(f"report: {md} and {html}", highlight=False)
