"""Records whose fields are facts from the documents: one model writes the form, a reader the facts.

A format instruction ("one line of JSON with the keys name, dose_mg and target for X") asks for
two things at once: a layout, which fine-tuning teaches, and facts, which retrieval supplies. A
small decoder fine-tuned on the layouts writes the record well and its facts badly (it cannot
know them); an extractive reader over retrieved passages finds facts but writes no layout. This
`LM` composes the two: the writer answers, and when its answer is a record each field is asked
of the reader (`field_question`: the field's name and the instruction, which names the record's
subject; a small writer garbles names it should copy) and the reader's span replaces the written
value, in the writer's layout. Each field is read over the passages the instruction retrieves, cut
to the sentences closest to the field's name ("dose mg": the whole instruction, or the subject's
name, would pick the sentences that repeat the name over the one that states the fact). A reply
that is no record (a plain question) is the reader's answer. This is slot filling by
extractive QA, the retrieve-and-read design applied per field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from adaptlab.corpus.synth_formats import parse_record, render
from adaptlab.lm import LM
from adaptlab.retrieval.rag import DEFAULT_GEN_KWARGS, RagLM

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
QUESTION_WORDS = 24  # of the instruction: where it names its subject, leaving a small reader room for passages


def field_question(field: str, instruction: str) -> str:
    """What the reader is asked for one field of the record an instruction asks for: 'dose mg? Give
    the facts about Farondrix as ...' (the instruction's first words). Readers are trained on
    questions in this form (`retrieval.reader.field_questions`), so the two must not drift apart."""
    return f"{field.replace('_', ' ')}? {' '.join(instruction.split()[:QUESTION_WORDS])}"


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
    """A writer's records with their fields read by `rag` (the reader over retrieval; module docstring)."""

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
        """Each (instruction, fields)'s values as the reader finds them over the passages the instruction
        retrieves, cut to the sentences closest to the field's name (module docstring)."""
        asks = [(i, field) for i, (_, fields) in enumerate(records) for field in fields]
        spans = self.rag.read([(field_question(field, records[i][0]), DEFAULT_GEN_KWARGS) for i, field in asks],
                              queries=[records[i][0] for i, _ in asks],
                              focus=[field.replace("_", " ") for _, field in asks]) if asks else []
        found: list[dict[str, str]] = [{} for _ in records]
        for (i, field), span in zip(asks, spans):
            found[i][field] = span
        return found

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """Scored by the writer: the reader only points at spans."""
        return self.writer.loglikelihood(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.writer.loglikelihood_rolling(texts)
