"""What every strategy of a study is built from, prepared once and kept between runs.

The base (the shipped instruction-following one, a local folder, or pretrained here on the
built-in general English corpus), the extractive reader (shipped),
the domain (the synthetic one, or a user's folder), the domain's text prepared and
encoded with the base's tokenizer (continued pretraining, domain bits per byte), the
general corpus (general bits per byte: what was forgotten), the RAG index over the
domain's documents and the few-shot pool. Each piece lives in a folder named by a hash of
what it was made from, written under a temporary name and renamed when whole, so a rerun
reuses it and a killed run leaves nothing half-made behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from adaptlab.corpus.documents import write_jsonl
from adaptlab.fileio import publish_dir
from adaptlab.study.config import BaseSpec, DomainSpec, TrainedBase, check_domain_folder

BASE_TRAIN = {"lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 50, "eval_every": 250,
              "eval_batches": 16, "checkpoint_every": 250, "log_every": 10, "seed": 1337}
"""The recipe of a base pretrained here (the quickstart's): nanoGPT-like, for a 1.3M decoder."""


@dataclass(frozen=True)
class Workspace:
    base: Path  # run or checkpoint folder
    base_id: str  # what the base is, for strategy keys
    domain: Path  # docs/ and the task files
    domain_id: str
    domain_corpus: Path  # prepared: train and validation splits
    domain_shards: Path  # encoded with the base's tokenizer
    general_corpus: Path
    index: Path  # RAG index over the domain's documents
    examples: Path  # few-shot pool: QA pairs and instructions as question/answer
    reader: Path  # the built-in extractive reader (study.builtin)

    def task_file(self, name: str) -> Path:
        return self.domain / name


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def once(path: Path, build: Callable[[Path], None]) -> Path:
    """`path`, built by `build(tmp)` into an empty temporary folder published whole, unless already there."""
    if path.exists():
        return path
    with publish_dir(path) as tmp:
        build(tmp)
    return path


def prepare_workspace(root: Path, base: BaseSpec, domain: DomainSpec, console: Console) -> Workspace:
    from adaptlab.corpus.builtin import write_general_corpus
    from adaptlab.study.builtin import builtin_model

    general = once(root / "general-corpus", lambda tmp: write_general_corpus(tmp))
    base_dir, base_id = _base(root, base, general, console)
    domain_dir, domain_id = _domain(root, domain, console)
    corpus = once(root / f"domain-corpus-{domain_id}", lambda tmp: _prepare_domain(domain_dir, tmp))
    shards = once(root / f"domain-shards-{digest([domain_id, base_id])}", lambda tmp: _encode(corpus, base_dir, tmp))
    index = root / f"index-{domain_id}"
    _sync_index(index, domain_dir, console)
    examples = root / f"examples-{domain_id}.jsonl"
    if not examples.exists():
        _write_examples(domain_dir, examples)
    return Workspace(base_dir, base_id, domain_dir, domain_id, corpus, shards, general, index, examples,
                     builtin_model("reader"))


def _base(root: Path, spec: BaseSpec, general: Path, console: Console) -> tuple[Path, str]:
    if spec.builtin:
        from adaptlab.study.builtin import BUILTIN_DIR, HASHES, builtin_model

        return builtin_model("base"), digest(json.loads((BUILTIN_DIR / HASHES).read_text()))
    if spec.run is not None:
        from adaptlab.runs import resolve_model_dir

        model_dir = resolve_model_dir(spec.run)
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in model_dir.iterdir() if p.is_file())
        return spec.run, digest([str(spec.run.resolve()), files])
    trained = spec.train
    assert trained is not None
    base_id = digest(trained.model_dump())
    path = root / f"base-{base_id}"
    if not path.exists():
        console.print(f"base: pretraining a {trained.size} decoder for {trained.steps} steps on the general corpus",
                      highlight=False)
    return once(path, lambda tmp: _pretrain_base(general, trained, tmp)) / "run", base_id


def _pretrain_base(general: Path, trained: TrainedBase, out: Path) -> None:
    from adaptlab.tokenization.shards import encode_corpus
    from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer
    from adaptlab.train.loop import pretrain
    from adaptlab.train.settings import PretrainConfig

    tokenizer = train_tokenizer(iter_corpus_texts(general), "bpe", trained.vocab_size, out / "tokenizer",
                                show_progress=False)
    encode_corpus(general, tokenizer, out / "shards", progress=False)
    model = {"family": "decoder", "size": trained.size, "max_seq_len": trained.seq_len}
    train = {**BASE_TRAIN, "steps": trained.steps, "seq_len": trained.seq_len, "batch_size": trained.batch_size}
    pretrain(PretrainConfig(data=out / "shards", out=out / "run", model=model, train=train))


def _domain(root: Path, spec: DomainSpec, console: Console) -> tuple[Path, str]:
    if spec.folder is not None:
        folder = spec.folder
        check_domain_folder(folder)
        files = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                       for p in folder.rglob("*") if p.is_file())
        return folder, digest([str(folder.resolve()), files])
    from adaptlab.corpus.synth import synthesize

    synthetic = spec.synthetic
    assert synthetic is not None
    domain_id = digest(synthetic.model_dump())
    path = root / f"domain-{domain_id}"
    if not path.exists():
        console.print(f"domain: the synthetic pharmacology domain, seed {synthetic.seed}, "
                      f"{synthetic.compounds} compounds", highlight=False)
    return once(path, lambda tmp: synthesize(tmp, seed=synthetic.seed, n_compounds=synthetic.compounds)), domain_id


def _prepare_domain(domain: Path, out: Path) -> None:
    from adaptlab.corpus.prepare import prepare_corpus

    prepare_corpus([domain / "docs"], out, min_chars=50, validation_fraction=0.1)


def _encode(corpus: Path, base: Path, out: Path) -> None:
    from adaptlab.runs import load_model
    from adaptlab.tokenization.shards import encode_corpus

    encode_corpus(corpus, load_model(base).tokenizer, out, progress=False)


def _sync_index(index: Path, domain: Path, console: Console) -> None:
    from adaptlab.retrieval.embeddings import default_embedder
    from adaptlab.retrieval.index import sync_index
    from adaptlab.retrieval.sources import read_corpus

    report = sync_index(index, read_corpus(domain / "docs").documents, default_embedder())
    if report.chunks_embedded:
        console.print(f"index: {report.documents} documents, {report.chunks} chunks ({report.chunks_embedded} "
                      "embedded)", highlight=False)


def _write_examples(domain: Path, out: Path) -> None:
    """QA pairs and instructions in one pool, so a similar-example prompt shows QA for a question
    and instructions of the same format for an instruction."""
    from adaptlab.evaluation.tasks import read_instructions, read_qa

    qa = read_qa(domain / "qa_train.jsonl")
    instructions = read_instructions(domain / "instructions_train.jsonl")
    write_jsonl(out, [*({"question": r["question"], "answer": r["answer"]} for r in qa),
                      *({"question": r["prompt"], "answer": r["response"]} for r in instructions)])
