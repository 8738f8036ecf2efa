"""The `adaptlab` command line: parse, call, print. Heavy imports happen inside commands
so that `adaptlab --help` stays instant."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from adaptlab.adapt.cli import list_methods, merge_adapter
from adaptlab.corpus.cli import app as corpus_app
from adaptlab.engine.cli import generate
from adaptlab.errors import UserError
from adaptlab.evaluation.cli import evaluate
from adaptlab.pipeline.cli import app as pipeline_app
from adaptlab.prompting.cli import app as prompt_app
from adaptlab.quiet import quiet_libraries
from adaptlab.retrieval.cli import rag_app
from adaptlab.serve.cli import serve
from adaptlab.study.cli import app as study_app
from adaptlab.tokenization.cli import app as tokenizer_app
from adaptlab.tokenization.cli import tokenize
from adaptlab.train.cli import finetune, pretrain

try:  # recent typer releases carry their own copy of click, whose exceptions are not click's
    from typer._click import exceptions as click_errors
except ImportError:
    from click import exceptions as click_errors

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Adapt language models to a domain and measure which adaptation wins.")


@app.callback()
def root(verbose: Annotated[bool, typer.Option("--verbose", help="Also show the libraries' own messages (loading "
                                                                    "bars, deprecation notices, kernel look-ups).")]
         = False) -> None:
    """Adapt language models to a domain and measure which adaptation wins."""
    if not verbose:
        quiet_libraries()


def quickstart(
    out_dir: Annotated[Path, typer.Option("--out", help="Working folder (replaced on each run).")] = Path("runs/quickstart"),
    steps: Annotated[int, typer.Option(help="Training steps (1000 take about 5 minutes on 2 cores).")] = 1000,
) -> None:
    """The main job on its embedded default: corpus, tokenizer, model, evaluation, samples."""
    from adaptlab.fileio import check_output
    from adaptlab.quickstart import run_quickstart

    if steps < 1:
        raise UserError(f"--steps {steps}: must be at least 1")
    check_output(out_dir, folder=True, what="the quickstart's work")
    run_quickstart(out_dir, steps=steps)


GROUPS: dict[str, typer.Typer] = {"corpus": corpus_app, "tokenizer": tokenizer_app, "prompt": prompt_app,
                                  "pipeline": pipeline_app, "rag": rag_app, "study": study_app}
COMMANDS: dict[str, Callable[..., None]] = {"tokenize": tokenize, "pretrain": pretrain, "finetune": finetune,
                                            "methods": list_methods, "merge": merge_adapter, "generate": generate,
                                            "eval": evaluate, "serve": serve, "quickstart": quickstart}
"""Every room's commands, mounted here: groups (`adaptlab rag query ...`) and single commands."""
for name, group in GROUPS.items():
    app.add_typer(group, name=name)
for name, command in COMMANDS.items():
    app.command(name)(command)


def _usage_message(exc: click_errors.UsageError) -> str:
    """click's message for a usage error, with the value given where typer's pydantic check kept it
    (its range messages say what is accepted but not what was given), and where to read the usage."""
    from pydantic import ValidationError

    message = exc.format_message()
    if isinstance(exc.__cause__, ValidationError) and "input" in exc.__cause__.errors()[0]:
        message += f" (got {exc.__cause__.errors()[0]['input']})"
    return f"{message} (see `{exc.ctx.command_path} --help`)" if exc.ctx else message


def main() -> None:
    """Entry point: a user's mistake, ours or click's (a bad option, a value out of range), is one line
    on stderr and exit code 2, never a traceback or a boxed panel."""
    stderr = Console(stderr=True, soft_wrap=True)
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:  # the help is already printed
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        stderr.print(f"[red]error:[/] {escape(_usage_message(exc))}", highlight=False)
        sys.exit(2)
    except typer.Abort:
        stderr.print("Aborted!", highlight=False)
        sys.exit(1)
    except UserError as exc:
        stderr.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
