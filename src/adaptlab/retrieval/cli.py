"""`adaptlab rag ...`: build or update an index, query it, score it on labelled queries.

Wire it with `app.add_typer(rag_app, name="rag")`; `adaptlab.cli.main` turns a UserError
into one line and exit code 2. Heavy imports happen inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adaptlab.errors import UserError

rag_app = typer.Typer(no_args_is_help=True, help="Retrieval: index a corpus, search it, score it on labelled queries.")
out = Console(soft_wrap=True)
ALL_MODES = "all"
EXTRACTIVE_HELP = ("Copy the answer from the passages: the reader may only write a span of them "
                   "(exact names, no garbled copies; no answer that is not written there).")
SENTENCES_HELP = ("Show the reader only this many retrieved sentences, those closest to the question "
                  "(default: whole passages); keep its training data's.")
SNIPPET_CHARS = 120


@rag_app.command("index")
def index(
    corpus: Annotated[Path, typer.Argument(help="A prepared corpus, or a folder/file of .txt, .md, .jsonl.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Index folder: created, or updated in place.")],
    max_tokens: Annotated[Optional[int], typer.Option(help="Word pieces per chunk (default: the index's own, "
                                                           "else 128).")] = None,
    overlap: Annotated[Optional[int], typer.Option(help="Word pieces repeated from the previous chunk (default: "
                                                        "the index's own, else 16).")] = None,
    embedding_model: Annotated[str, typer.Option(help="all-MiniLM-L6-v2 or a local sentence-transformers folder.")]
    = "all-MiniLM-L6-v2",
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
) -> None:
    """Index a corpus; run again after it changes: only new and changed documents are embedded."""
    from rich.progress import Progress

    from adaptlab.retrieval.chunking import ChunkSettings
    from adaptlab.retrieval.index import sync_index
    from adaptlab.retrieval.search import embedder_named
    from adaptlab.retrieval.sources import read_corpus

    given = {k: v for k, v in {"max_tokens": max_tokens, "overlap": overlap}.items() if v is not None}
    chunking = ChunkSettings(**given) if given else None
    read = read_corpus(corpus, text_field=text_field)
    for skip in read.skipped:
        out.print(f"skipped {escape(skip.where)}: {skip.reason}", highlight=False)
    with Progress(console=out, transient=True) as bar:
        task = bar.add_task("embedding chunks", total=None)
        report = sync_index(out_dir, read.documents, embedder_named(embedding_model), chunking,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    out.print(f"documents: {report.added} added, {report.updated} updated, {report.deleted} deleted, "
              f"{report.unchanged} unchanged; {report.chunks_embedded} chunks embedded", highlight=False)
    out.print(f"index {out_dir}: {report.documents} documents, {report.chunks} chunks", highlight=False)


@rag_app.command("query")
def query(
    index_dir: Annotated[Path, typer.Argument(help="An index folder (from `adaptlab rag index`).")],
    question: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("--k", min=1, help="How many chunks to show.")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid (reciprocal-rank fusion).")] = "hybrid",
) -> None:
    """Show the top-k chunks for a question: rank, score, document id and the start of the text."""
    from adaptlab.retrieval.search import open_searcher

    _check_question(question)
    for rank, hit in enumerate(open_searcher(index_dir).search([question], k=k, mode=mode)[0], 1):
        snippet = " ".join(hit.text.split())[:SNIPPET_CHARS]
        out.print(f"{rank}. {hit.score:.4f}  {escape(hit.doc_id)}  {escape(snippet)}", highlight=False)


@rag_app.command("eval")
def evaluate(
    index_dir: Annotated[Path, typer.Argument(help="An index folder (from `adaptlab rag index`).")],
    queries: Annotated[Path, typer.Argument(help="JSONL with `question` and `doc_id` (e.g. qa_eval.jsonl).")],
    mode: Annotated[str, typer.Option(help="bm25, dense, hybrid or all.")] = ALL_MODES,
    reader: Annotated[Optional[Path], typer.Option(help="A reader run: also RAG exact match (hybrid, --k) on the "
                                                        "queries' `answer`s, beside the same model without retrieval.")]
    = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Passages the reader is given (as many as fit): keep its "
                                                       "training data's.")] = 5,
    extractive: Annotated[bool, typer.Option("--extractive", help=EXTRACTIVE_HELP)] = False,
    sentences: Annotated[Optional[int], typer.Option(min=1, help=SENTENCES_HELP)] = None,
) -> None:
    """Recall@1/5/10, MRR and nDCG@10 of document retrieval on labelled queries (and RAG exact match)."""
    from adaptlab.retrieval.metrics import evaluate_retrieval, read_labeled_queries
    from adaptlab.retrieval.search import MODES, open_searcher

    modes = list(MODES) if mode == ALL_MODES else [mode]
    if any(m not in MODES for m in modes):
        raise UserError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}, {ALL_MODES}")
    if reader is None and (extractive or sentences is not None):
        given = ", ".join(o for o, v in (("--extractive", extractive), ("--sentences", sentences)) if v)
        raise UserError(f"{given}: only used with --reader (how a reader answers); add --reader RUN or drop {given}")
    model = records = None
    if reader is not None:  # loaded before the retrieval pass, so a bad reader fails at once
        from adaptlab.evaluation.tasks import read_qa
        from adaptlab.retrieval.span_reader import load_reader

        model, records = load_reader(reader), read_qa(queries)
    searcher = open_searcher(index_dir)
    labelled = read_labeled_queries(queries, searcher.index.hashes)
    table = Table(title=f"{len(labelled)} queries, document level")
    rows = {m: evaluate_retrieval(searcher, labelled, m) for m in modes}
    table.add_column("mode")
    for name in rows[modes[0]]:
        table.add_column(name, justify="right")
    for m, metrics in rows.items():
        table.add_row(m, *(f"{v:.3f}" for v in metrics.values()))
    out.print(table)
    if model is not None:
        from adaptlab.evaluation.tasks import knowledge_exact_match
        from adaptlab.retrieval.rag import RagLM
        from adaptlab.retrieval.reader import ClosedBookLM

        rag = RagLM(model, searcher, k=k, extractive=extractive, sentences=sentences)
        with_rag = knowledge_exact_match(rag, records)["exact_match"]
        closed = knowledge_exact_match(ClosedBookLM(model), records)["exact_match"]
        how = "extractive RAG" if extractive else "RAG"
        out.print(f"exact match on {len(records)} questions: {how} {with_rag:.3f}, without retrieval {closed:.3f}",
                  highlight=False)


@rag_app.command("ask")
def ask(
    index_dir: Annotated[Path, typer.Argument(help="An index folder (from `adaptlab rag index`).")],
    run: Annotated[Path, typer.Argument(help="The reader: a run or model folder (a decoder, or an extractive "
                                             "reader: an encoder fine-tuned with --sft).")],
    question: Annotated[str, typer.Argument(help="The question.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Passages to retrieve (those that fit are used).")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    extractive: Annotated[bool, typer.Option("--extractive", help=EXTRACTIVE_HELP)] = False,
    sentences: Annotated[Optional[int], typer.Option(min=1, help=SENTENCES_HELP)] = None,
) -> None:
    """Answer a question from retrieved passages; print the answer and its citations."""
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.search import open_searcher
    from adaptlab.retrieval.span_reader import load_reader

    _check_question(question)
    answer = RagLM(load_reader(run), open_searcher(index_dir), k=k, mode=mode,
                   extractive=extractive, sentences=sentences).answer(question)
    out.print(escape(answer.text.strip()), highlight=False)
    out.print(f"citations: {escape(', '.join(answer.citations) or '(none)')}", highlight=False)


@rag_app.command("reader-data")
def reader_data(
    index_dir: Annotated[Path, typer.Argument(help="An index folder (from `adaptlab rag index`).")],
    qa: Annotated[Path, typer.Argument(help="Training QA JSONL: question, answer, doc_id (never the eval set).")],
    base: Annotated[Path, typer.Option(help="The base the reader will be fine-tuned from (its context and "
                                            "tokenizer size the prompts).")],
    out_file: Annotated[Path, typer.Option("--out", help="SFT JSONL to write (prompt/response).")],
    k: Annotated[int, typer.Option("--k", min=1, help="Passages to retrieve per question.")] = 5,
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "hybrid",
    counterfactuals: Annotated[int, typer.Option(min=0, help="Copies of each example with its answer swapped for "
                                                             "another of the same shape, in passages and response.")]
    = 0,
    practice_domains: Annotated[int, typer.Option(min=0, help="Fresh synthetic domains whose QA pairs are added, "
                                                              "each over its own index: reading practice with names "
                                                              "no answer can be recalled for.")] = 0,
    sentences: Annotated[Optional[int], typer.Option(min=1, help=SENTENCES_HELP)] = None,
) -> None:
    """Supervised data that teaches a base to answer from passages; train it with
    `adaptlab finetune --base BASE --sft OUT`."""
    import tempfile

    from adaptlab.corpus import synth
    from adaptlab.corpus.documents import write_jsonl
    from adaptlab.evaluation.tasks import read_qa
    from adaptlab.fileio import check_output
    from adaptlab.retrieval.metrics import doc_id_matcher
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.reader import future_reader, practice_examples, reader_examples
    from adaptlab.retrieval.search import open_searcher

    check_output(out_file, folder=False, what="the reader examples (JSONL)")
    records = read_qa(qa, ("question", "answer", "doc_id"))
    searcher = open_searcher(index_dir)
    rag = RagLM(future_reader(base), searcher, k=k, mode=mode, sentences=sentences)
    examples = reader_examples(rag, records, doc_id_matcher(searcher.index.hashes), counterfactuals=counterfactuals)
    if practice_domains:
        with tempfile.TemporaryDirectory(prefix="adaptlab-practice-") as work:
            examples += practice_examples(rag.reader, synth.practice_domains(practice_domains), Path(work),
                                          searcher.embedder, searcher.index.info.chunking, k=k, mode=mode,
                                          sentences=sentences)
    write_jsonl(out_file, examples)
    out.print(f"{len(examples)} reader examples -> {out_file}", highlight=False)


def _check_question(question: str) -> None:
    """A blank question would still be answered (with whatever ranks first for nothing)."""
    if not question.strip():
        raise UserError(f"question {question!r} is empty; give some text to ask about")
