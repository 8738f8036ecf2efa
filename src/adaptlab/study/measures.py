"""The same measurements for every strategy: what it knows, how it behaves, what it costs to run.

- knowledge: exact match on held-out QA (generated answer, normalised, equals the reference);
- behaviour: format compliance on held-out strict-format instructions (the domain's validator);
- content: content accuracy on the same instructions (every field's fact right, whatever the form);
- domain and general bits per byte of the decoder underneath (learned and forgotten;
  prompting changes no weights, so theirs are the base's; none for an encoder reader);
- latency p50 and tokens/s over single requests, as a user would send them;
- prompt and generated tokens per request, counted on what the model was actually given
  (few-shot examples and passages included): the per-request cost.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from adaptlab.evaluation.tasks import (
    QUESTION_KWARGS,
    format_compliance,
    knowledge_exact_match,
    read_instructions,
    read_qa,
)
from adaptlab.study.config import EvalSettings
from adaptlab.study.strategies import Built
from adaptlab.study.workspace import Workspace


class PeakMemory:
    """Peak resident memory of this process between enter and exit, in MB (Linux: the kernel's
    high-water mark, reset on enter through /proc/self/clear_refs); None where unavailable."""

    mb: float | None = None

    def __enter__(self) -> PeakMemory:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.mb = None
        return self

    def __exit__(self, *_: Any) -> None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return
        line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
        self.mb = int(line.split()[1]) / 1024 if line else None


def measure(built: Built, ws: Workspace, ev: EvalSettings) -> dict[str, Any]:
    from adaptlab.corpus.documents import read_documents, split_path
    from adaptlab.evaluation.perplexity import causal_metrics

    questions = read_qa(ws.task_file("qa_eval.jsonl"))[: ev.questions]
    instructions = read_instructions(ws.task_file("instructions_eval.jsonl"))[: ev.instructions]
    meters = built.meters

    def tokens(kind: str) -> int:
        return sum(getattr(m, kind) for m in meters)

    for m in meters:
        m.reset()
    knowledge = knowledge_exact_match(built.lm, questions)
    behaviour = format_compliance(built.lm, instructions)
    requests = len(questions) + len(instructions)
    prompt_tokens, output_tokens = tokens("prompt_tokens") / requests, tokens("output_tokens") / requests

    seconds, generated = [], 0
    for record in questions[: ev.latency_requests]:
        for m in meters:
            m.reset()
        start = time.perf_counter()
        built.lm.generate_until([(record["question"], QUESTION_KWARGS)])
        seconds.append(time.perf_counter() - start)
        generated += tokens("output_tokens")

    def bpb(corpus: Path) -> float | None:
        if built.causal is None:
            return None
        texts = [d.text for d in read_documents(split_path(corpus, "validation"))][: ev.bpb_documents]
        return causal_metrics(built.causal, texts)["bits_per_byte"]

    return {
        "knowledge_em": knowledge["exact_match"],
        "format_compliance": behaviour["format_compliance"],
        "format_compliance_by_kind": behaviour["by_kind"],
        "content_accuracy": behaviour["content_accuracy"],
        "fields_correct": behaviour["fields_correct"],
        "domain_bpb": bpb(ws.domain_corpus),
        "general_bpb": bpb(ws.general_corpus),
        "latency_p50_s": statistics.median(seconds),
        "tokens_per_second": generated / sum(seconds),
        "trainable_parameters": built.trainable_parameters,
        "total_parameters": sum(m.parameters() for m in meters),
        "train_seconds": built.train_seconds,
        "artifact_bytes": built.artifact_bytes,
        "prompt_tokens_per_request": prompt_tokens,
        "output_tokens_per_request": output_tokens,
        "examples": knowledge["examples"],
        "instruction_examples": behaviour["examples"],
    }
