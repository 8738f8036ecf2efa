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
    seeds: Annotated[Optional[int], typer.Option("--seeds", min=1, help="Run each strategy N times (seeds seed, "
                                                                        "seed + 1, ...) and report mean ± spread "
                                                                        "[default: the study's seeds, 1]")] = None,
) -> None:
    """Build and measure each strategy, then write report.md and report.html."""
    from adaptlab.fileio import check_output
    from adaptlab.study.config import load_study
    from adaptlab.study.runner import run_study

    check_output(out_dir, folder=True, what="the study")
    config, settings = load_study(study)
    if seeds is not None:
        config = config.model_copy(update={"seeds": seeds})
    run_study(config, settings, out_dir, out)


@app.command("report")
def report(
    study_dir: Annotated[Path, typer.Argument(help="A study folder (from `adaptlab study run`).")] = DEFAULT_OUT,
) -> None:
    """Render report.md and report.html again from the saved results."""
    from adaptlab.study.runner import rerender

    md, html = rerender(study_dir)
    out.print(f"report: {md} and {html}", highlight=False)


def _recipe_default(field: str) -> str:
    from adaptlab.study.builtin import Recipe

    return f" [default: {Recipe.model_fields[field].default}]"


@app.command("base")
def base(
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where to write them (default: the package's "
                                                                  "built-in folder, replacing the shipped weights).")]
    = None,
    practice_domains: Annotated[Optional[int], typer.Option(
        help="Fresh synthetic domains to practise on." + _recipe_default("practice_domains"))] = None,
    practice_compounds: Annotated[Optional[int], typer.Option(
        help="Compounds in each practice domain." + _recipe_default("practice_compounds"))] = None,
    base_pretrain_steps: Annotated[Optional[int], typer.Option(
        help="The base's pretraining steps." + _recipe_default("base_pretrain_steps"))] = None,
    base_tune_steps: Annotated[Optional[int], typer.Option(
        help="The base's instruction-tuning steps." + _recipe_default("base_tune_steps"))] = None,
    reader_pretrain_steps: Annotated[Optional[int], typer.Option(
        help="The reader's masked-LM steps." + _recipe_default("reader_pretrain_steps"))] = None,
    reader_tune_steps: Annotated[Optional[int], typer.Option(
        help="The reader's extractive fine-tuning steps." + _recipe_default("reader_tune_steps"))] = None,
) -> None:
    """Rebuild the study's built-in base and reader from scratch (nothing downloaded); the recipe is study.builtin's."""
    from adaptlab.config import validate
    from adaptlab.fileio import check_replaceable
    from adaptlab.study.builtin import BUILTIN_DIR, HASHES, Recipe, build_builtin

    given = {"practice_domains": practice_domains, "practice_compounds": practice_compounds,
             "base_pretrain_steps": base_pretrain_steps, "base_tune_steps": base_tune_steps,
             "reader_pretrain_steps": reader_pretrain_steps, "reader_tune_steps": reader_tune_steps}
    recipe = validate(Recipe, {k: v for k, v in given.items() if v is not None}, "adaptlab study base")
    target = out_dir or BUILTIN_DIR
    check_replaceable(target, HASHES, "built-in models folder")
    seconds = build_builtin(target, recipe, out)
    out.print(f"built-in base and reader written to {target} in {seconds:.0f} s", highlight=False)
