"""The domain's tasks, scored the same way for every system: functions of an `LM` and records.

- knowledge: exact match on QA pairs (the generated answer, normalised, equals the reference);
- behaviour: format compliance on strict-format instructions (the synthetic domain's validator)
  and exact match with the reference response.

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


def format_compliance(lm: LM, records: Sequence[dict[str, Any]],
                      gen_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Share of answers in the required format, share identical to the reference, and every
    non-compliant answer beside its reference (what to look at when the share is low)."""
    from adaptlab.corpus.synth import check_format

    if not records:
        raise UserError("no instructions to answer")
    answers = [a.strip() for a in lm.generate_until([(r["prompt"], gen_kwargs or INSTRUCTION_KWARGS)
                                                     for r in records])]
    compliant = [check_format(r["format"], a) for r, a in zip(records, answers)]
    exact = [a == r["response"].strip() for r, a in zip(records, answers)]
    rows = [{"prompt": r["prompt"], "answer": a, "compliant": c} for r, a, c in zip(records, answers, compliant)]
    return {"format_compliance": sum(compliant) / len(records), "exact_match": sum(exact) / len(records),
            "instructions": len(records), "examples": rows[:SHOWN],
            "failures": [{**row, "reference": r["response"]} for row, r in zip(rows, records) if not row["compliant"]]}
