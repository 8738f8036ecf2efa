"""Each study method made into an `LM` over the workspace, recipes of the toolkit's parts.

Every strategy is asked the same raw texts (a knowledge question, a format instruction).
Models that were trained rather than prompted are asked through the zero-shot template
("Question: ...\\nAnswer:"), the RAG ones through the RAG prompt (the same, with passages
before it), so prompts differ only in what the method adds. Behavioural SFT trains on its
instructions rendered that same way, so it is asked as it was taught.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adaptlab import registry
from adaptlab.lm import LM, HFCausalLM
from adaptlab.study import settings as S
from adaptlab.study.workspace import Workspace


class Metered(LM):
    """A model a strategy's requests pass through, counting the prompt and generated tokens of its
    generation requests: what a request costs, whatever the method put around the question. It
    reads as the model it wraps (`Reader`), so prompting and retrieval wrap it unchanged."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.max_length: int = inner.max_length
        self.prompt_tokens = 0
        self.output_tokens = 0

    def render(self, context: str) -> str:
        return self.inner.render(context)

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def fingerprint(self) -> str | None:
        return self.inner.fingerprint()

    def parameters(self) -> int:
        return sum(p.numel() for p in self.inner.model.parameters())

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self.inner.loglikelihood(requests)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return self.inner.loglikelihood_rolling(texts)

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        outputs = self.inner.generate_until(requests)
        self.prompt_tokens += sum(len(self.encode(self.render(context))) for context, _ in requests)
        self.output_tokens += sum(len(self.encode(o)) for o in outputs)
        return outputs

    def reset(self) -> None:
        self.prompt_tokens = self.output_tokens = 0


@dataclass
class Built:
    """A strategy ready to evaluate, and what it took to make it."""

    lm: LM
    meters: list[Metered]  # every model its requests pass through
    causal: HFCausalLM | None  # the decoder whose weights it answers with (bits per byte); None: no such one
    run: Path | None = None  # its training run: loss curve
    train_seconds: float = 0.0
    trainable_parameters: int = 0
    artifact_bytes: int = 0  # what the strategy adds to the base: adapter or weights, index, examples
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    workspace: Workspace
    out: Path  # the strategy's own folder
    seed: int
    earlier: dict[str, dict[str, Any]]  # results of the strategies before it (same seed), by name


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _decoder(path: Path) -> tuple[Metered, HFCausalLM]:
    model = HFCausalLM.from_path(path)
    return Metered(model), model


def _prompted(inner: LM, template: str = "zero_shot", **settings: Any) -> LM:
    from adaptlab.prompting.prompted_lm import PromptedLM
    from adaptlab.prompting.prompter import PromptSettings

    return PromptedLM.from_settings(inner, PromptSettings(template=template, **settings))


def _reader(ctx: Context, s: S.RagSettings) -> tuple[Metered, HFCausalLM | None, str]:
    """The model that reads the passages, the decoder among it and the base (if it is one), and its name."""
    from adaptlab.retrieval.span_reader import SpanReader, load_reader

    if s.reader == "base":
        metered, base = _decoder(ctx.workspace.base)
        return metered, base, "the base"
    path = ctx.workspace.reader if s.reader == "builtin" else Path(s.reader)
    reader = load_reader(path)
    name = "the built-in extractive reader" if s.reader == "builtin" else str(path)
    return Metered(reader), None if isinstance(reader, SpanReader) else reader, name


def _rag(reader: Metered, ctx: Context, s: S.RagSettings) -> Any:
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.search import open_searcher

    return RagLM(reader, open_searcher(ctx.workspace.index), k=s.k, mode=s.mode, extractive=s.extractive,
                 sentences=s.sentences)


def zero_shot(ctx: Context, s: S.NoSettings) -> Built:
    metered, model = _decoder(ctx.workspace.base)
    return Built(_prompted(metered), [metered], model)


def prompting(template: str) -> Callable[[Context, S.PromptingSettings], Built]:
    def build(ctx: Context, s: S.PromptingSettings) -> Built:
        metered, model = _decoder(ctx.workspace.base)
        lm = _prompted(metered, template, examples=ctx.workspace.examples, k=s.k, select=s.select, seed=ctx.seed)
        return Built(lm, [metered], model, artifact_bytes=folder_bytes(ctx.workspace.examples))

    return build


def _reader_bytes(ctx: Context, s: S.RagSettings) -> int:
    """What retrieval adds to the base: the index, and the built-in reader where it reads."""
    return folder_bytes(ctx.workspace.index) + (folder_bytes(ctx.workspace.reader) if s.reader == "builtin" else 0)


def rag(ctx: Context, s: S.RagSettings) -> Built:
    reader, causal, name = _reader(ctx, s)
    return Built(_rag(reader, ctx, s), [reader], causal, artifact_bytes=_reader_bytes(ctx, s),
                 notes=[f"read by {name}"])


def _train(ctx: Context, s: S.TrainingSettings, base: Path, method: BaseModel | None = None, **run: Any) -> Built:
    """Train a run on `base` (shards or SFT data in `run`, by a registered `method`'s settings, else
    every weight) into the strategy's folder."""
    from adaptlab.train.loop import pretrain
    from adaptlab.train.settings import PretrainConfig

    out = ctx.out / "run"
    shutil.rmtree(out, ignore_errors=True)  # a run that failed or was killed starts over
    train = {"steps": s.steps, "batch_size": s.batch_size, "seq_len": s.seq_len, "lr": s.lr, "min_lr": s.lr / 10,
             "warmup_steps": s.warmup_steps, "eval_every": s.steps, "eval_batches": 8, "checkpoint_every": s.steps,
             "seed": ctx.seed}
    if method is not None:
        run["method"] = method.model_dump(include=set(registry.method(method.name).settings.model_fields))
    result = pretrain(PretrainConfig(out=out, base=base, train=train, **run))
    metered, model = _decoder(out)
    size = json.loads((out / "cost.json").read_text())["artifact_bytes"]  # the adapter alone, or the whole model
    return Built(_prompted(metered), [metered], model, out, result.wall_seconds, result.trainable_parameters, size)


def on_domain_text(ctx: Context, s: Any) -> Built:
    """A registered method trained on the domain's documents (its knowledge, read as text)."""
    return _train(ctx, s, ctx.workspace.base, s, data=ctx.workspace.domain_shards)


def domain_tokens_lora(ctx: Context, s: S.DomainTokensLoraSettings) -> Built:
    """New tokens for the domain's frequent terms (embeddings from their pieces' mean), the
    domain re-encoded with them, then LoRA; the new embeddings stay as initialised."""
    from adaptlab.runs import load_model
    from adaptlab.tokenization.domain import extend_model_and_tokenizer
    from adaptlab.tokenization.shards import encode_corpus

    extended, shards = ctx.out / "extended", ctx.out / "shards"
    shutil.rmtree(shards, ignore_errors=True)
    report = extend_model_and_tokenizer(ctx.workspace.base, extended, corpus_dir=ctx.workspace.domain_corpus,
                                        max_terms=s.max_terms)
    encode_corpus(ctx.workspace.domain_corpus, load_model(extended).tokenizer, shards, progress=False)
    built = _train(ctx, s, extended, s, data=shards)
    built.artifact_bytes += folder_bytes(extended / "model") if (extended / "model").is_dir() else 0
    built.notes.append(f"{len(report.new_tokens)} domain tokens added")
    return built


def asked(prompts: Sequence[str]) -> list[str]:
    """Prompts as a trained strategy is asked them (the zero-shot template): what its SFT data must hold."""
    from adaptlab.prompting.prompter import Prompter, PromptSettings

    return Prompter.from_settings(PromptSettings(template="zero_shot")).render(prompts)


def sft(ctx: Context, s: S.SftSettings) -> Built:
    from adaptlab.corpus.documents import write_jsonl
    from adaptlab.evaluation.tasks import read_instructions, read_qa

    ws = ctx.workspace
    instructions = read_instructions(ws.task_file("instructions_train.jsonl"))
    pairs = [(r["prompt"], r["response"]) for r in instructions]
    questions = read_qa(ws.task_file("qa_train.jsonl")) if s.questions else []
    pairs += [(r["question"], r["answer"]) for r in questions]
    examples = [{"prompt": p, "response": response} for p, (_, response) in zip(asked([p for p, _ in pairs]), pairs)]
    data = ctx.out / "sft.jsonl"
    write_jsonl(data, examples)
    built = _train(ctx, s, ws.base, sft={"train_file": data})
    built.notes.append(f"{len(examples)} SFT examples ({len(instructions)} instructions, {len(questions)} questions)")
    return built


def rag_sft(ctx: Context, s: S.RagSftSettings) -> Built:
    """An earlier SFT strategy's model writes each record, the reader fills its fields from the document
    the instruction retrieves (`retrieval.fill`); a question is the reader's. The SFT's training is this
    strategy's too."""
    from adaptlab.retrieval.fill import FilledRecordLM

    trained = ctx.earlier.get(s.over)
    if trained is None or trained.get("status") != "done":
        raise RuntimeError(f"its writer, strategy {s.over!r}, has no finished run")
    writer, model = _decoder(Path(trained["run"]))
    reader, _, name = _reader(ctx, s)
    measures = trained["measures"]
    lm = FilledRecordLM(_prompted(writer), _rag(reader, ctx, s))
    return Built(lm, [writer, reader], model, Path(trained["run"]), measures["train_seconds"],
                 measures["trainable_parameters"], measures["artifact_bytes"] + _reader_bytes(ctx, s),
                 [f"records written by {s.over}, fields read by {name}"])


@dataclass(frozen=True)
class StudyMethod:
    """What a strategy's `method` names: its settings and how it is built."""

    settings: type[BaseModel]
    build: Callable[[Context, Any], Built]


RECIPES: dict[str, StudyMethod] = {
    "zero_shot": StudyMethod(S.NoSettings, zero_shot),
    "few_shot": StudyMethod(S.PromptingSettings, prompting("few_shot")),
    "chain_of_thought": StudyMethod(S.PromptingSettings, prompting("chain_of_thought")),
    "rag": StudyMethod(S.RagSettings, rag),
    "sft": StudyMethod(S.SftSettings, sft),
    "domain_tokens_lora": StudyMethod(S.DomainTokensLoraSettings, domain_tokens_lora),
    "rag_sft": StudyMethod(S.RagSftSettings, rag_sft),
}
"""The study's own methods: prompting, retrieval and recipes of several parts."""


def study_methods() -> dict[str, StudyMethod]:
    """Every method a strategy may name: the recipes, then every registered method, trained on the
    domain's text with the study's optimisation settings."""
    trained = {m.name: StudyMethod(S.trained_settings(m), on_domain_text) for m in registry.methods().values()}
    return {**RECIPES, **trained}


DEFAULT_STRATEGIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("zero_shot", "zero_shot", {}), ("few_shot", "few_shot", {}), ("rag", "rag", {}), ("sft", "sft", {}),
    ("rag_sft", "rag_sft", {}), ("continued_pretraining", "full", {}), ("lora", "lora", {}),
    ("bottleneck", "pfeiffer", {"r": 16}), ("prefix", "prefix", {}), ("domain_tokens_lora", "domain_tokens_lora", {}),
)
"""The default study: (strategy name, method, settings): the baseline, the toolkit's best recipes for
knowledge (RAG with the extractive reader), behaviour (SFT) and both (RAG + SFT), few-shot with similar
examples, and one of each weight-adaptation family."""


def build(method: str, ctx: Context, settings: BaseModel) -> Built:
    return study_methods()[method].build(ctx, settings)
