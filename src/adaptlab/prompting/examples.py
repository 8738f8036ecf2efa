"""Solved examples for few-shot prompts, read from JSONL.

Each line is {"question", "answer"} with optional "reasoning" (shown by chain-of-thought
templates) and "id" (for fixed selection; defaults to the line's position). The synthetic
domain's qa_train.jsonl is such a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adaptlab.corpus.documents import iter_jsonl
from adaptlab.errors import UserError


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    answer: str
    reasoning: str = ""


def read_examples(path: Path) -> list[Example]:
    """Every example in a JSONL file; a line without a question or answer is an error naming it."""
    examples = []
    for where, record in iter_jsonl(path, "examples with 'question' and 'answer'"):
        missing = [key for key in ("question", "answer") if not isinstance(record.get(key), str)]
        if missing:
            raise UserError(f"{where}: example needs a text {missing[0]!r} (fields: question, answer, "
                            "optional reasoning, id)")
        examples.append(Example(id=str(record.get("id", where)), question=record["question"],
                                answer=record["answer"], reasoning=str(record.get("reasoning") or "")))
    return examples
