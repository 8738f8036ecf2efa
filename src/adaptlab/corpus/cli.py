"""`adaptlab corpus ...`: read, clean, deduplicate and split text; the built-in corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="Read, clean, dedup and split text; make the synthetic domain.")
out = Console(soft_wrap=True)


@app.command("prepare")
def corpus_prepare(
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders (.txt, .md, .jsonl), read recursively.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, validation.jsonl, summary.json.")],
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    min_chars: Annotated[int, typer.Option(help="Drop documents shorter than this after cleaning.")] = 200,
    validation_fraction: Annotated[float, typer.Option(help="Share of documents held out.")] = 0.05,
    near_dup_threshold: Annotated[float, typer.Option(help="MinHash Jaccard similarity that counts as duplicate.")] = 0.8,
    seed: int = 0,
) -> None:
    """Normalize, filter, deduplicate (exact and MinHash) and split a corpus by document."""
    from adaptlab.corpus.prepare import prepare_corpus

    summary = prepare_corpus(inputs, out_dir, text_field=text_field, min_chars=min_chars,
                             validation_fraction=validation_fraction, near_dup_threshold=near_dup_threshold, seed=seed)
    for line in summary.lines():
        out.print(line, highlight=False)


@app.command("synth")
def corpus_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for docs/, QA and instruction files.")],
    seed: int = 0,
    compounds: Annotated[int, typer.Option(help="How many invented compounds.")] = 80,
) -> None:
    """Generate the synthetic pharmacology domain: documents, QA pairs, strict-format instructions."""
    from adaptlab.corpus.synth import synthesize

    summary = synthesize(out_dir, seed=seed, n_compounds=compounds)
    for key, value in summary.to_dict().items():
        out.print(f"{key}: {value}", highlight=False)


@app.command("general")
def corpus_general(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the prepared corpus.")],
    seed: int = 0,
) -> None:
    """Prepare the built-in general English corpus (Python's own documentation text)."""
    from adaptlab.corpus.builtin import write_general_corpus

    for line in write_general_corpus(out_dir, seed=seed).lines():
        out.print(line, highlight=False)
