"""`adaptlab tokenizer ...` (train a tokenizer, add domain tokens to a model) and `adaptlab tokenize`
(a prepared corpus into token shards)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="Train tokenizers; add domain tokens to a model.")
out = Console(soft_wrap=True)


@app.command("train")
def tokenizer_train(
    corpus: Annotated[Path, typer.Argument(help="A prepared corpus folder (its train split is used).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for tokenizer.json and its config.")],
    kind: Annotated[str, typer.Option(help="bpe (byte-level), unigram (SentencePiece-style) or char.")] = "bpe",
    vocab_size: int = 4096,
    min_frequency: int = 2,
) -> None:
    """Train a tokenizer; AutoTokenizer loads the folder it writes."""
    from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

    tok = train_tokenizer(iter_corpus_texts(corpus), kind, vocab_size, out_dir, min_frequency=min_frequency)
    out.print(f"{kind} tokenizer with {len(tok)} tokens written to {out_dir}", highlight=False)


@app.command("extend")
def tokenizer_extend(
    run: Annotated[Path, typer.Argument(help="A run folder or Hugging Face model folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    corpus: Annotated[Optional[Path], typer.Option(help="Prepared domain corpus: mine train, measure validation.")] = None,
    terms: Annotated[Optional[Path], typer.Option(help="Text file, one term per line (instead of mining).")] = None,
    max_terms: int = 500,
    min_count: int = 3,
) -> None:
    """Add domain tokens to a model's tokenizer and grow its embeddings (new rows: mean of the pieces)."""
    from adaptlab.tokenization.domain import extend_model_and_tokenizer

    report = extend_model_and_tokenizer(run, out_dir, corpus_dir=corpus, terms_file=terms, max_terms=max_terms,
                                        min_count=min_count)
    for line in report.lines():
        out.print(line, highlight=False)


def tokenize(
    corpus: Annotated[Path, typer.Argument(help="A prepared corpus folder.")],
    tokenizer: Annotated[Path, typer.Option(help="A tokenizer folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the token shards and meta.json.")],
) -> None:
    """Encode a prepared corpus into memory-mapped token shards."""
    from adaptlab.tokenization.shards import encode_corpus
    from adaptlab.tokenization.train import load_tokenizer

    meta = encode_corpus(corpus, load_tokenizer(tokenizer), out_dir)
    for split, info in meta["splits"].items():
        out.print(f"{split}: {info['documents']} documents, {info['tokens']:,} tokens, {info['bytes']:,} bytes "
                  f"({info['tokens'] / max(1, info['bytes']):.3f} tokens/byte)", highlight=False)
