"""Behaviour on strict-format instructions: does the model answer in exactly the
layout asked for (one XML element, one JSON line, ...)? Greedy answers to held-out
instructions, each checked by the synthetic domain's validator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptlab.corpus.documents import iter_jsonl
from adaptlab.corpus.synth import check_format
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.runs import LoadedModel
from adaptlab.train.sft_data import ensure_chat_template, render_prompt


def read_instructions(path: Path) -> list[dict[str, Any]]:
    records = []
    for where, record in iter_jsonl(path, "an instructions JSONL file"):
        if not all(k in record for k in ("prompt", "response", "format")):
            raise UserError(f"{where}: an instruction needs prompt, response and format")
        records.append(record)
    return records


def format_compliance(loaded: LoadedModel, records: Sequence[dict[str, Any]], *, max_new_tokens: int = 96,
                      batch_size: int = 16) -> dict[str, Any]:
    """Share of answers in the required format, share identical to the reference, and every
    non-compliant answer beside its reference (what to look at when the share is low)."""
    tokenizer = loaded.tokenizer
    ensure_chat_template(tokenizer)
    prompts = [render_prompt(tokenizer, [{"role": "user", "content": r["prompt"]}]) for r in records]
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0)
    answers = []
    for start in range(0, len(prompts), batch_size):
        answers += [g.text.strip() for g in generate(loaded.model, tokenizer, prompts[start : start + batch_size],
                                                     settings)]
    compliant = [check_format(r["format"], a) for r, a in zip(records, answers)]
    exact = [a == r["response"].strip() for r, a in zip(records, answers)]
    rows = [{"prompt": r["prompt"], "answer": a, "compliant": c} for r, a, c in zip(records, answers, compliant)]
    return {"format_compliance": sum(compliant) / len(records), "exact_match": sum(exact) / len(records),
            "instructions": len(records), "examples": rows[:3],
            "failures": [{**row, "reference": r["response"]} for row, r in zip(rows, records) if not row["compliant"]]}
