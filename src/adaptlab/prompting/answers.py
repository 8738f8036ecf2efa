"""The final answer inside a chain-of-thought generation.

Chain-of-thought templates ask the model to reason and then write `Answer: ...`;
evaluation compares answers, not reasoning, so this keeps what follows the last
"Answer:" (case-insensitive) up to the end of that line. A generation without the
marker falls back to its last non-empty line: a model that skipped the reasoning
usually answered directly.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"answer\s*:", re.IGNORECASE)


def extract_answer(text: str) -> str:
    """'...so it inhibits Tatramase.\\nAnswer: Tatramase' -> 'Tatramase'."""
    found = list(MARKER.finditer(text))
    if found:
        return text[found[-1].end():].strip().split("\n", 1)[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
