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


class MeteredLM(HFCausalLM):
    """The model underneath a strategy, counting the prompt and generated tokens of each request:
    what a request costs, whatever the method put around the question."""

    def __init__(self, lm: HFCausalLM):
        super().__init__(lm.model, lm.tokenizer, batch_size=lm.batch_size, max_length=lm.max_length, chat=lm.chat)
        self.prompt_tokens: list[int] = []
        self.output_tokens: list[int] = []

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        outputs = super().generate_until(requests)
        self.prompt_tokens += [len(self.encode(self.render(context))) for context, _ in requests]
        self.output_tokens += [len(self.encode(o)) for o in outputs]
        return outputs

    def reset(self) -> None:
        self.prompt_tokens, self.output_tokens = [], []


@dataclass
class Built:
    """A strategy ready to evaluate, and what it took to make it."""

    lm: LM
    model: MeteredLM
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
    earlier: dict[str, dict[str, Any]]  # results of the strategies before it, by name


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _metered(path: Path) -> MeteredLM:
    return MeteredLM(HFCausalLM.from_path(path))


def _prompted(inner: LM, template: str = "zero_shot", **settings: Any) -> LM:
    from adaptlab.prompting.prompted_lm import PromptedLM
    from adaptlab.prompting.prompter import PromptSettings

    return PromptedLM.from_settings(inner, PromptSettings(template=template, **settings))


def _rag(model: MeteredLM, ctx: Context, s: S.RagSettings) -> LM:
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.search import open_searcher

    return RagLM(model, open_searcher(ctx.workspace.index), k=s.k, mode=s.mode, extractive=s.extractive,
                 sentences=s.sentences)


def zero_shot(ctx: Context, s: S.NoSettings) -> Built:
    model = _metered(ctx.workspace.base)
    return Built(_prompted(model), model)


def prompting(template: str) -> Callable[[Context, S.PromptingSettings], Built]:
    def build(ctx: Context, s: S.PromptingSettings) -> Built:
        model = _metered(ctx.workspace.base)
        lm = _prompted(model, template, examples=ctx.workspace.examples, k=s.k, select=s.select, seed=ctx.seed)
        return Built(lm, model, artifact_bytes=folder_bytes(ctx.workspace.examples))

    return build


def rag(ctx: Context, s: S.RagSettings) -> Built:
    model = _metered(ctx.workspace.base)
    return Built(_rag(model, ctx, s), model, artifact_bytes=folder_bytes(ctx.workspace.index))


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
    model = _metered(out)
    size = json.loads((out / "cost.json").read_text())["artifact_bytes"]  # the adapter alone, or the whole model
    return Built(_prompted(model), model, out, result.wall_seconds, result.trainable_parameters, size)


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


def sft(ctx: Context, s: S.SftSettings) -> Built:
    from adaptlab.corpus.documents import write_jsonl
    from adaptlab.evaluation.tasks import read_instructions
    from adaptlab.prompting.prompter import Prompter, PromptSettings

    ws = ctx.workspace
    instructions = read_instructions(ws.task_file("instructions_train.jsonl"))
    asked = Prompter.from_settings(PromptSettings(template="zero_shot")).render([r["prompt"] for r in instructions])
    examples = [{"prompt": p, "response": r["response"]} for p, r in zip(asked, instructions)]
    if s.reading:
        examples += _reading_examples(ws, s.k, s.sentences)
    data = ctx.out / "sft.jsonl"
    write_jsonl(data, examples)
    built = _train(ctx, s, ws.base, sft={"train_file": data})
    built.notes.append(f"{len(examples)} SFT examples ({len(instructions)} instructions)")
    return built


def _reading_examples(ws: Workspace, k: int, sentences: int | None) -> list[dict[str, str]]:
    """The training questions over their retrieved passages, answered (the RAG reader recipe)."""
    from adaptlab.evaluation.tasks import read_qa
    from adaptlab.retrieval.metrics import doc_id_matcher
    from adaptlab.retrieval.rag import RagLM
    from adaptlab.retrieval.reader import future_reader, reader_examples
    from adaptlab.retrieval.search import open_searcher

    searcher = open_searcher(ws.index)
    records = read_qa(ws.task_file("qa_train.jsonl"), ("question", "answer", "doc_id"))
    return reader_examples(RagLM(future_reader(ws.base), searcher, k=k, sentences=sentences), records,
                           doc_id_matcher(searcher.index.hashes))


def rag_sft(ctx: Context, s: S.RagSftSettings) -> Built:
    """RAG read by an earlier SFT strategy's model: its training is this strategy's too."""
    trained = ctx.earlier.get(s.over)
    if trained is None or trained.get("status") != "done":
        raise RuntimeError(f"its reader, strategy {s.over!r}, has no finished run")
    model = _metered(Path(trained["run"]))
    measures = trained["measures"]
    return Built(_rag(model, ctx, s), model, Path(trained["run"]), measures["train_seconds"],
                 measures["trainable_parameters"], measures["artifact_bytes"] + folder_bytes(ctx.workspace.index))


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
    ("zero_shot", "zero_shot", {}), ("few_shot", "few_shot", {}), ("chain_of_thought", "chain_of_thought", {}),
    ("rag", "rag", {}), ("continued_pretraining", "full", {}), ("lora", "lora", {}),
    ("bottleneck", "pfeiffer", {"r": 16}), ("prefix", "prefix", {}), ("sft", "sft", {}),
    ("domain_tokens_lora", "domain_tokens_lora", {}), ("rag_sft", "rag_sft", {}),
)
"""The default study: (strategy name, method, settings), one of each family."""


def build(method: str, ctx: Context, settings: BaseModel) -> Built:
    return study_methods()[method].build(ctx, settings)
