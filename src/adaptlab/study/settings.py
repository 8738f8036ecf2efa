"""Each study method's settings, validated apart so a typo names its strategy and field.

Defaults are sized for the quickstart: a 1.3M-parameter base on 2 CPU cores, every
trained strategy about a minute. A registered method's learning rate is the one its
registration gives (benchmarks/finetune.py measured them on this base).
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from adaptlab import registry


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoSettings(_Settings):
    """The base asked as it is (zero-shot)."""


class PromptingSettings(_Settings):
    """Solved examples shown before each question, picked from the domain's training examples."""

    k: int = Field(default=2, gt=0, description="examples per prompt (an instruction example is ~100 tokens)")
    select: Literal["fixed", "random", "similar"] = Field(default="similar", description="how examples are picked")


class RagSettings(_Settings):
    """Retrieval over the domain's documents, the answer read from the passages."""

    k: int = Field(default=3, gt=0, description="passages retrieved (as many as fit are shown)")
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    extractive: bool = Field(default=True, description="the answer copied from the passages (engine.copying)")
    sentences: int | None = Field(default=3, gt=0, description="show only this many sentences closest to the "
                                                                   "question (retrieval.compress): a small reader's "
                                                                   "context holds them; null shows whole passages")


class TrainingSettings(_Settings):
    """The optimisation shared by every trained method."""

    steps: int = Field(default=150, gt=0)
    batch_size: int = Field(default=16, gt=0)
    seq_len: int = Field(default=128, gt=1)
    lr: float = Field(default=1e-3, gt=0)
    warmup_steps: int = Field(default=15, ge=0)


@cache
def trained_settings(method: registry.Method) -> type[BaseModel]:
    """A registered method's study settings: the optimisation above and the method's own knobs
    (its name fixed), with the learning rate its family is usually given."""
    lr = method.lr or TrainingSettings.model_fields["lr"].default
    return create_model(f"Study{method.settings.__name__}_{method.name}", __base__=(method.settings, TrainingSettings),
                        name=(Literal[method.name], method.name), lr=(float, Field(default=lr, gt=0)))  # type: ignore


class DomainTokensLoraSettings(trained_settings(registry.method("lora"))):  # type: ignore[misc]
    """Domain terms added to the tokenizer (embeddings resized), then LoRA on the re-encoded text."""

    max_terms: int = Field(default=200, gt=0)


class SftSettings(TrainingSettings):
    """Behavioural SFT on the domain's instructions, and on reading: its training questions
    asked over retrieved passages, so the model can serve as a RAG reader too."""

    steps: int = 250
    seq_len: int = 256
    reading: bool = Field(default=True, description="add the training questions over retrieved passages")
    k: int = Field(default=3, gt=0, description="passages per reading example")
    sentences: int | None = Field(default=3, gt=0, description="their sentences shown, as RagSettings.sentences "
                                                                   "(keep the RAG strategy over it the same)")


class RagSftSettings(RagSettings):
    """RAG whose reader is the model of an SFT strategy of the same study."""

    over: str = Field(default="sft", description="name of the sft strategy whose model reads")
