"""Records whose fields are facts from the documents: one model writes the form, a reader the facts.

A format instruction ("one line of JSON with the keys name, dose_mg and target for X") asks for
two things at once: a layout, which fine-tuning teaches, and facts, which retrieval supplies. A
small decoder fine-tuned on the layouts writes the record well and its facts badly (it cannot
know them); an extractive reader over retrieved passages finds facts but writes no layout. This
`LM` composes the two: the writer answers, and when its answer is a record each field is asked
of the reader and the reader's span replaces the written value, in the writer's layout. A reply
that is no record (a plain question) is the reader's answer. This is slot filling by extractive
QA, the retrieve-and-read design applied per field.

A record describes one subject, so its fields are read from one document: the one the instruction
retrieves first, whole (all its chunks), cut to the sentences closest to what the instruction says
the field holds (`field_focus`: "side effect: its most frequent adverse effect"). Passages of
other documents state the same kind of fact about other subjects, and were the reader's most
frequent mistake; the question needs no subject then, so it is the focus alone, short enough to
leave a small reader's context to the sentences. `field_examples` renders a reader's training
examples through the same `field_prompts`, so the two cannot drift apart.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from adaptlab.corpus.synth_formats import field_values, parse_record, render
from adaptlab.errors import UserError
from adaptlab.lm import LM
from adaptlab.retrieval.chunking import Chunk, joined
from adaptlab.retrieval.compress import Excerpt, compress
from adaptlab.retrieval.rag import DEFAULT_GEN_KWARGS, Passage, RagLM

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
ANSWER_TOKENS = DEFAULT_GEN_KWARGS["max_gen_toks"]


def field_focus(field: str, instruction: str) -> str:
    """The field in words and what the instruction says it is ('dose_mg is its standard adult dose in
    milligrams, as a number' gives 'dose mg: its standard adult dose in milligrams'); the words alone
    when the instruction does not say."""
    words = field.replace("_", " ")
    said = re.search(rf"\b{re.escape(field)}\s+(?:is|means)\s+([^;,.\n]+)", instruction, re.IGNORECASE)
    return f"{words}: {said.group(1).strip()}" if said else words


def field_question(field: str, instruction: str) -> str:
    """What the reader is asked for one field: its focus, as a question."""
    return f"{field_focus(field, instruction)}?"


def field_prompts(rag: RagLM, asks: Sequence[tuple[str, str]], doc_ids: Sequence[str | None], *,
                  required: Sequence[str] | None = None) -> list[tuple[str, list[Passage]]]:
    """Each (instruction, field)'s reader prompt over its document's sentences closest to the field's
    focus (`rag.sentences` of them; the whole document when unset), and the passages kept. With
    `required` (training), the kept sentences include the one holding the value."""
    wanted: dict[str, list[Chunk]] = {doc: [] for doc in doc_ids if doc is not None}
    for chunk in rag.searcher.index.chunks.values():  # one pass, however many records
        if chunk.doc_id in wanted:
            wanted[chunk.doc_id].append(chunk)
    texts = {doc: joined(chunks) for doc, chunks in wanted.items()}
    whole = [[Excerpt(doc, texts[doc])] if doc is not None else [] for doc in doc_ids]
    focus = [field_focus(field, instruction) for instruction, field in asks]
    passages = whole if rag.sentences is None else compress(focus, whole, rag.searcher.embedder, rag.sentences,
                                                            required=required)
    return [rag.fit_prompt(p, field_question(field, instruction), ANSWER_TOKENS)
            for (instruction, field), p in zip(asks, passages)]


def field_examples(rag: RagLM, instructions: Sequence[dict[str, Any]], resolve_doc: Callable[[str], str | None], *,
                   limit: int = 1000, seed: int = 0) -> list[dict[str, str]]:
    """A reader's training examples: each field of the instructions' reference records asked as
    `FilledRecordLM` asks it, over the instruction's own document, answered as the documents write it
    ('450' of '450 mg': the number a record holds). A field asked alike by several instructions is one
    example; up to `limit`, sampled."""
    distinct = {(field_focus(field, r["prompt"]), r["doc_id"], value): (r, field, value) for r in instructions
                for field, value in (field_values(r["format"], r["response"]) or {}).items()}
    asked = random.Random(seed).sample(list(distinct.values()), min(limit, len(distinct)))
    docs = []
    for r, _, _ in asked:
        doc = resolve_doc(r["doc_id"])
        if doc is None:
            raise UserError(f"{r.get('id', r['prompt'][:40])!r}: doc_id {r['doc_id']!r} is not in the index")
        docs.append(doc)
    fitted = field_prompts(rag, [(r["prompt"], field) for r, field, _ in asked], docs,
                           required=[value for _, _, value in asked])
    return [{"prompt": prompt, "response": value} for (prompt, kept), (_, _, value) in zip(fitted, asked)
            if any(value in p.text for p in kept)]


def typed(value: str, kind: str) -> Any:
    """A value as its layout renders it: a number field's digits as a number (JSON writes them bare)."""
    if kind != "number":
        return value
    return float(value) if "." in value else int(value)


def filled_value(found: str, written: str, kind: str) -> str:
    """The reader's span for a field, or the writer's value where the reader found nothing usable;
    a number field takes the span's first number ('450' of '450 mg')."""
    if kind == "number":
        number = _NUMBER.search(found)
        return number.group() if number else written
    return found.strip() or written


class FilledRecordLM(LM):
    """A writer's records with their fields read by `rag`'s reader (the module docstring)."""

    def __init__(self, writer: LM, rag: RagLM):
        self.writer = writer
        self.rag = rag

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        written = self.writer.generate_until(requests)
        records = [parse_record(text) for text in written]
        plain = [i for i, record in enumerate(records) if record is None]
        answers = dict(zip(plain, self.rag.generate_until([requests[i] for i in plain]))) if plain else {}
        filled = [i for i, record in enumerate(records) if record is not None]
        found = dict(zip(filled, self._read_fields([(requests[i][0], list(records[i][1])) for i in filled])))
        out = []
        for i, record in enumerate(records):
            if record is None:
                out.append(answers[i])
                continue
            spec, values = record
            kinds = spec["fields"]
            out.append(render(spec, {f: typed(filled_value(found[i][f], values[f], kinds[f]), kinds[f])
                                     for f in values}))
        return out

    def _read_fields(self, records: Sequence[tuple[str, list[str]]]) -> list[dict[str, str]]:
        """Each (instruction, fields)'s values as the reader finds them in the instruction's first document."""
        if not records:
            return []
        firsts = self.rag.searcher.search([instruction for instruction, _ in records], k=1, mode=self.rag.mode)
        asks = [(i, field) for i, (_, fields) in enumerate(records) for field in fields]
        fitted = field_prompts(self.rag, [(records[i][0], field) for i, field in asks],
                               [firsts[i][0].doc_id if firsts[i] else None for i, _ in asks])
        spans = self.rag.reader.generate_until([(prompt, self.rag.reading(DEFAULT_GEN_KWARGS, kept))
                                                for prompt, kept in fitted])
        found: list[dict[str, str]] = [{} for _ in records]
        for (i, field), span in zip(asks, spans):
            found[i][field] = span
        return found

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """Scored by the writer: the reader only points at spans."""
        return self.writer.loglikelihood(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.writer.loglikelihood_rolling(texts)
