"""Retrieval on the synthetic domain: quality by search mode, then indexing and query speed at scale.

What it does
    1. Quality: the synthetic domain (seed 0, 80 compounds) indexed with the default
       chunking; recall@1/5/10, MRR and nDCG@10 of bm25, dense and hybrid search on
       qa_eval.jsonl (document-level relevance).
    2. Scale: corpora of about N chunks for each --sizes N, from synthetic domains of 400
       compounds under seeds 1, 2, ... (ids prefixed `s<seed>/`). Each size is built
       incrementally on the one before (only the new documents are embedded), so the
       throughput is that of the update; an unchanged re-sync is timed too (it embeds
       nothing). Then hybrid query latency, one query at a time with its embedding,
       p50/p99 over --queries questions, and hybrid recall@5 on seed 1's qa_eval among
       all the distractors.
       Sizes in --tiled-sizes are built the same way, except that each new chunk's
       vector is a copy of an already embedded one: for latency only (an exact flat
       scan costs the same whatever the values), when embedding them for real would
       take too long on a busy machine. Their throughput and recall are not printed.
    3. RAG exact match with a reader model: a base (`--reader-base RUN`, else a Llama of the
       `--reader-size` preset, 10m by default, pretrained on the general corpus with a
       512-token context) fine-tuned as a reader (`adaptlab rag reader-data`, then SFT) on
       seed 0's qa_train and on every QA pair of `--reader-practice` fresh synthetic domains,
       each over its own index (reading practice: see adaptlab.retrieval.reader); exact
       match and citation accuracy on qa_eval through RagLM (hybrid, --reader-k 5), free and
       extractive (the answer copy-constrained to a span of the passages: engine.copying),
       beside the same reader without retrieval. `--reader-sentences N` trains and asks it on the N
       retrieved sentences closest to each question (RagLM's contextual compression), which fit
       a shorter `--reader-seq-len`. The defaults are sized for a GPU (minutes there, hours on
       2 CPU cores); `--reader-size 1m --reader-steps 600 --reader-practice 2` is a CPU smoke run.
       `--reader-family encoder` pretrains a BERT-style base instead (masked LM, `--reader-base-steps`)
       and fine-tunes it on the same data as an extractive reader (adaptlab.retrieval.span_reader):
       it points at the answer's span in the passages, so there is one exact-match line, not two.

Usage (from the repo root)
    .venv/bin/python benchmarks/rag.py [--sizes 10000,100000] [--tiled-sizes ...] [--reader-base RUN]
        [--reader-family decoder|encoder] [--reader-size 10m] [--reader-base-steps 1500] [--reader-steps 2500]
        [--reader-practice 16] [--reader-k 5] [--reader-sentences N]
        [--reader-seq-len 512] [--skip-reader] [--workdir DIR]
Figures are printed, never asserted.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from adaptlab.corpus.documents import Document, write_jsonl
from adaptlab.corpus.synth import generate, practice_domains, synthesize
from adaptlab.retrieval.chunking import ChunkSettings, chunk_text, hf_token_spans
from adaptlab.retrieval.embeddings import default_embedder
from adaptlab.retrieval.index import TextEmbedder, sync_index
from adaptlab.retrieval.metrics import LabeledQuery, doc_id_matcher, evaluate_retrieval, read_labeled_queries
from adaptlab.retrieval.rag import RagLM
from adaptlab.evaluation.tasks import QUESTION_KWARGS, knowledge_exact_match, read_qa, same_answer
from adaptlab.retrieval.reader import ClosedBookLM, future_reader, practice_examples, reader_examples
from adaptlab.retrieval.search import MODES, Searcher, open_searcher
from adaptlab.retrieval.sources import read_corpus
from adaptlab.retrieval.span_reader import SpanReader, load_reader

console = Console(width=140)
SCALE_COMPOUNDS = 400


def quality(workdir: Path, chunking: ChunkSettings) -> None:
    synthesize(workdir / "synth", seed=0)
    t0 = time.perf_counter()
    report = sync_index(workdir / "quality", read_corpus(workdir / "synth" / "docs").documents, default_embedder(),
                        chunking)
    console.print(f"seed 0, 80 compounds: {report.documents} documents, {report.chunks} chunks "
                  f"({chunking.max_tokens} tokens, overlap {chunking.overlap}), indexed in {time.perf_counter() - t0:.1f} s")
    searcher = open_searcher(workdir / "quality", default_embedder())
    queries = read_labeled_queries(workdir / "synth" / "qa_eval.jsonl", searcher.index.hashes)
    table = Table(title=f"retrieval on qa_eval ({len(queries)} questions, document level)")
    rows = {mode: evaluate_retrieval(searcher, queries, mode) for mode in MODES}
    table.add_column("mode")
    for name in rows["hybrid"]:
        table.add_column(name, justify="right")
    for mode, metrics in rows.items():
        table.add_row(mode, *(f"{v:.3f}" for v in metrics.values()))
    console.print(table)


def scale_corpus(size: int, chunking: ChunkSettings) -> tuple[list[Document], list[LabeledQuery]]:
    """Documents from seeds 1, 2, ... until they make `size` chunks; seed 1's eval questions, labelled."""
    spans = hf_token_spans(default_embedder().tokenizer)
    docs: list[Document] = []
    chunks = 0
    seed = 0
    labelled: list[LabeledQuery] = []
    while chunks < size:
        seed += 1
        domain = generate(seed=seed, n_compounds=SCALE_COMPOUNDS)
        for doc_id, text in domain.documents.items():
            if chunks >= size:
                break
            docs.append(Document(f"s{seed}/{doc_id}", text))
            chunks += len(chunk_text(doc_id, text, chunking, spans))
        if seed == 1:
            labelled = [LabeledQuery(q["question"], frozenset({f"s1/{q['doc_id']}"}))
                        for q in domain.records["qa_eval.jsonl"]]
    return docs, labelled


class TiledEmbedder:
    """The real embedder's name and tokenizer; vectors copied, in turn, from ones it embedded before."""

    def __init__(self, real: TextEmbedder, vectors: np.ndarray):
        self.real = real
        self.name = real.name
        self.vectors = vectors
        self.next = 0

    @property
    def dim(self) -> int:
        return self.real.dim

    @property
    def tokenizer(self) -> Any:
        return self.real.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = (self.next + np.arange(len(texts))) % len(self.vectors)
        self.next += len(texts)
        return self.vectors[rows]


def latency(searcher: Searcher, questions: list[str]) -> tuple[float, float]:
    """p50 and p99 in ms of hybrid search, one question at a time, its embedding included."""
    searcher.search(questions[:3], k=10)  # warm up
    times = []
    for q in questions:
        t0 = time.perf_counter()
        searcher.search([q], k=10, mode="hybrid")
        times.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def scale(workdir: Path, sizes: list[int], tiled: set[int], chunking: ChunkSettings, n_queries: int) -> None:
    table = Table(title="scale: incremental indexing, hybrid search one query at a time (embedding included)")
    for col in ("chunks", "documents", "vectors", "embedded", "index s", "chunks/s", "resync s", "load s",
                "p50 ms", "p99 ms", "hybrid recall@5"):
        table.add_column(col, justify="right")
    path = workdir / "scale"
    embedder: TextEmbedder = default_embedder()
    for size in sorted(sizes):
        docs, labelled = scale_corpus(size, chunking)
        fake = size in tiled
        if fake:
            vectors = open_searcher(path, embedder).index.vectors
            embedder = TiledEmbedder(default_embedder(), vectors.index.reconstruct_n(0, vectors.ntotal))
        t0 = time.perf_counter()
        report = sync_index(path, docs, embedder, chunking)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = sync_index(path, docs, embedder, chunking)
        resync = time.perf_counter() - t0
        t0 = time.perf_counter()
        searcher = open_searcher(path, default_embedder())
        load = time.perf_counter() - t0
        p50, p99 = latency(searcher, [q.question for q in labelled][:n_queries])
        recall = "n/a" if fake else f"{evaluate_retrieval(searcher, labelled, 'hybrid')['recall@5']:.3f}"
        throughput = "n/a" if fake else f"{report.chunks_embedded / build:.1f}"
        table.add_row(f"{report.chunks:,}", f"{report.documents:,}", "tiled" if fake else "real",
                      f"{report.chunks_embedded:,}", f"{build:.1f}", throughput, f"{resync:.1f}", f"{load:.2f}",
                      f"{p50:.1f}", f"{p99:.1f}", recall)
        console.print(f"{size:,} chunks: indexed in {build:.0f} s; unchanged re-sync embedded {again.chunks_embedded}")
    console.print(table)


# --- RAG exact match with a reader model --------------------------------------------------------


def reader(work: Path, base: Path | None, family: str, size: str, base_steps: int, steps: int, batch_size: int,
           seq_len: int, practice: int, k: int, sentences: int | None) -> None:
    """Train a reader on qa_train (and `practice` fresh domains) with retrieved passages; exact
    match on qa_eval with and without RAG."""
    from finetune import SFT_WARMUP, adaptlab, build_base

    base = base or build_base(work / f"reader-base-{family}", base_steps, 512, size, batch_size=16, lr="1e-3",
                              family=family)
    searcher = open_searcher(work / "quality", default_embedder())
    rag = RagLM(future_reader(base), searcher, k=k, sentences=sentences)
    train = read_qa(work / "synth" / "qa_train.jsonl", ("question", "answer", "doc_id"))
    examples = reader_examples(rag, train, doc_id_matcher(searcher.index.hashes))
    examples += practice_examples(rag.reader, practice_domains(practice), work, searcher.embedder,
                                  searcher.index.info.chunking, k=k, sentences=sentences)
    write_jsonl(work / "reader.jsonl", examples)
    adaptlab("finetune", "--base", str(base), "--sft", str(work / "reader.jsonl"), "--steps", str(steps),
             "--eval-every", str(steps), "--seq-len", str(seq_len), *SFT_WARMUP, "--batch-size", str(batch_size),
             "--lr", "1e-3", "--out", str(work / "reader"))
    model = load_reader(work / "reader")
    questions = read_qa(work / "synth" / "qa_eval.jsonl", ("question", "answer", "doc_id"))
    match = doc_id_matcher(searcher.index.hashes)
    n = len(questions)
    shown = f"the {sentences} retrieved sentences closest to the question" if sentences else f"top-{k} passages"
    console.print(f"reader: {len(examples)} training examples ({practice} practice domains), {steps} SFT steps of "
                  f"{batch_size} x {seq_len} tokens; shown {shown}; on {n} held-out questions:")
    extractive_reader = isinstance(model, SpanReader)  # it only ever points at spans
    for extractive in (True,) if extractive_reader else (False, True):
        rag = RagLM(model, searcher, k=k, extractive=extractive, sentences=sentences)
        answers = rag.answers([q["question"] for q in questions], QUESTION_KWARGS)
        em = sum(same_answer(a.text, q["answer"]) for a, q in zip(answers, questions))
        cited = sum(match(q["doc_id"]) in a.citations for a, q in zip(answers, questions))
        how = "extractive reader" if extractive_reader else \
            "extractive RAG (copy-constrained)" if extractive else "RAG (free generation)"
        console.print(f"  {how}: exact "
                      f"match {em / n:.3f} (gold document cited {cited / n:.3f})")
        for q, a in list(zip(questions, answers))[:3]:
            console.print(f"    {q['question']} -> {a.text.strip()!r} (reference {q['answer']!r})")
    closed = knowledge_exact_match(ClosedBookLM(model), questions)["exact_match"]
    console.print(f"  same reader without retrieval: exact match {closed:.3f}")


def main(
    sizes: Annotated[str, typer.Option(help="Comma-separated chunk counts to index for real.")] = "10000,100000",
    tiled_sizes: Annotated[str, typer.Option(help="Comma-separated chunk counts whose new vectors are copies "
                                                  "(latency only).")] = "",
    max_tokens: Annotated[int, typer.Option(help="Chunk budget in word pieces.")] = ChunkSettings.max_tokens,
    overlap: Annotated[int, typer.Option(help="Chunk overlap in word pieces.")] = ChunkSettings.overlap,
    queries: Annotated[int, typer.Option(help="Questions timed one at a time at each size.")] = 150,
    skip_quality: Annotated[bool, typer.Option("--skip-quality")] = False,
    reader_base: Annotated[Path | None, typer.Option(help="Base of the reader (default: one pretrained here).")] = None,
    reader_family: Annotated[str, typer.Option(help="decoder (a generative reader) or encoder (an extractive one), "
                                                    "when the base is pretrained here.")] = "decoder",
    reader_size: Annotated[str, typer.Option(help="Preset of the reader's base, when pretrained here.")] = "10m",
    reader_base_steps: Annotated[int, typer.Option(help="Pretraining steps of the base, when pretrained here.")]
    = 1500,
    reader_steps: Annotated[int, typer.Option(help="SFT steps of the reader.")] = 2500,
    reader_batch_size: Annotated[int, typer.Option(help="Reader SFT sequences per step.")] = 32,
    reader_practice: Annotated[int, typer.Option(help="Fresh synthetic domains of reading practice.")] = 16,
    reader_k: Annotated[int, typer.Option(help="Passages retrieved for the reader (as many as fit).")] = 5,
    reader_sentences: Annotated[int | None, typer.Option(help="Show the reader only this many retrieved sentences, "
                                                              "those closest to the question.")] = None,
    reader_seq_len: Annotated[int, typer.Option(help="Reader SFT sequence length (prompts are packed).")] = 512,
    skip_reader: Annotated[bool, typer.Option("--skip-reader")] = False,
    workdir: Annotated[Path | None, typer.Option(help="Where corpora and indexes go (default: a temp dir).")] = None,
) -> None:
    chunking = ChunkSettings(max_tokens, overlap)
    work = workdir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    try:
        if not skip_quality:
            quality(work, chunking)
            if not skip_reader:
                reader(work, reader_base, reader_family, reader_size, reader_base_steps, reader_steps,
                       reader_batch_size, reader_seq_len, reader_practice, reader_k, reader_sentences)
        real = [int(s) for s in sizes.split(",") if s]
        tiled = {int(s) for s in tiled_sizes.split(",") if s}
        if real or tiled:
            scale(work, real + sorted(tiled), tiled, chunking, queries)
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
