"""The domain's tasks, scored the same way for every system: functions of an `LM` and records.

- knowledge: exact match on QA pairs (the generated answer, normalised, equals the reference);
- behaviour: format compliance on strict-format instructions (the synthetic domain's validator)
  and exact match with the reference response;
- content: content accuracy on the same instructions, the share whose record carries the
  reference's facts in every field (read per format, compared after normalisation), whatever
  its form: right facts in a malformed reply count here, not in compliance.

A base model, a prompted one, a RAG system, a pipeline or an adapted run: each is an `LM`, so
`adaptlab eval`, `adaptlab rag eval`, the study and the benchmarks give the same figure for the
same system. Bits per byte are `evaluation.perplexity`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptlab.corpus.documents import iter_jsonl
from adaptlab.errors import UserError
from adaptlab.lm import LM

QUESTION_KWARGS: dict[str, Any] = {"until": ["\n"], "max_gen_toks": 32}  # an answer is a line
INSTRUCTION_KWARGS: dict[str, Any] = {"until": ["\n\n"], "max_gen_toks": 96}  # some formats span lines
SHOWN = 3  # examples kept beside a score


def read_qa(path: Path, fields: Sequence[str] = ("question", "answer")) -> list[dict[str, Any]]:
    """QA pairs from JSONL; a line without one of `fields` (as a string) names its file and line."""
    records = []
    for where, record in iter_jsonl(path, f"QA pairs with {', '.join(fields)}"):
        if not all(isinstance(record.get(f), str) for f in fields):
            raise UserError(f"{where}: a QA pair needs string fields {', '.join(fields)}")
        records.append(record)
    if not records:
        raise UserError(f"{path}: no QA pairs")
    return records


def read_instructions(path: Path) -> list[dict[str, Any]]:
    """Strict-format instructions from JSONL: prompt, response and format on every line."""
    records = []
    for where, record in iter_jsonl(path, "an instructions JSONL file"):
        if not all(k in record for k in ("prompt", "response", "format")):
            raise UserError(f"{where}: an instruction needs prompt, response and format")
        records.append(record)
    if not records:
        raise UserError(f"{path}: no instructions")
    return records


def normalize_answer(text: str) -> str:
    """Case, surrounding blanks and a final period do not make an answer wrong."""
    return " ".join(text.strip().rstrip(".").split()).casefold()


def same_answer(answer: str, reference: str) -> bool:
    return normalize_answer(answer) == normalize_answer(reference)


def knowledge_exact_match(lm: LM, records: Sequence[dict[str, Any]],
                          gen_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Share of questions whose generated answer equals the reference (normalised), with the answers."""
    if not records:
        raise UserError("no questions to answer")
    answers = lm.generate_until([(r["question"], gen_kwargs or QUESTION_KWARGS) for r in records])
    hits = [same_answer(a, r["answer"]) for a, r in zip(answers, records)]
    return {"exact_match": sum(hits) / len(records), "questions": len(records), "answers": answers,
            "examples": [{"question": r["question"], "answer": a.strip(), "reference": r["answer"]}
                         for r, a in list(zip(records, answers))[:SHOWN]]}


def same_value(value: str, reference: str) -> bool:
    """Two field values alike: numbers by value ('450.0' is 450), text as `same_answer`."""
    try:
        return float(value) == float(reference)
    except ValueError:
        return same_answer(value, reference)


def fields_correct(spec: dict[str, Any], answer: str, reference: str) -> list[bool]:
    """Per field of the spec, whether the answer's record holds the reference's value there
    (all False when the answer holds no record of the spec's kind with its fields)."""
    from adaptlab.corpus.synth_formats import field_values

    expected, got = field_values(spec, reference), field_values(spec, answer)
    if expected is None:
        raise UserError(f"the reference response {reference!r} does not hold the record its format spec describes")
    return [got is not None and same_value(got[f], expected[f]) for f in expected]


def format_compliance(lm: LM, records: Sequence[dict[str, Any]],
                      gen_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Share of answers in the required format (overall and by layout), share identical to the
    reference, content accuracy (share with every field's fact right) and the share of fields right,
    and every non-compliant answer beside its reference (what to look at when the share is low)."""
    from adaptlab.corpus.synth import check_format

    if not records:
        raise UserError("no instructions to answer")
    answers = [a.strip() for a in lm.generate_until([(r["prompt"], gen_kwargs or INSTRUCTION_KWARGS)
                                                     for r in records])]
    compliant = [check_format(r["format"], a) for r, a in zip(records, answers)]
    exact = [a == r["response"].strip() for r, a in zip(records, answers)]
    fields = [fields_correct(r["format"], a, r["response"]) for r, a in zip(records, answers)]
    rows = [{"prompt": r["prompt"], "answer": a, "compliant": c} for r, a, c in zip(records, answers, compliant)]
    kinds: dict[str, list[bool]] = {}
    for r, c in zip(records, compliant):
        kinds.setdefault(r["format"]["kind"], []).append(c)
    return {"format_compliance": sum(compliant) / len(records), "exact_match": sum(exact) / len(records),
            "by_kind": {kind: sum(c) / len(c) for kind, c in kinds.items()},
            "content_accuracy": sum(all(f) for f in fields) / len(records),
            "fields_correct": sum(map(sum, fields)) / sum(map(len, fields)),
            "instructions": len(records), "examples": rows[:SHOWN],
            "failures": [{**row, "reference": r["response"]} for row, r in zip(rows, records) if not row["compliant"]]}
