"""Each study method's settings, validated apart so a typo names its strategy and field.

Defaults are sized for the quickstart: a 1.3M-parameter base on 2 CPU cores, every
trained strategy about a minute. A registered method's learning rate is the one its
registration gives (benchmarks/finetune.py measured them on this base).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

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

    reader: str = Field(default="builtin", min_length=1,
                        description="who reads: builtin (the shipped extractive reader, study.builtin), base (the "
                                    "base model) or a reader's run or model folder")

    k: int = Field(default=3, gt=0, description="passages retrieved (as many as fit are shown)")
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    extractive: bool = Field(default=True, description="a decoder reader copies its answer from the passages "
                                                       "(engine.copying); an encoder reader always points at one")
    sentences: int | None = Field(default=3, gt=0, description="show only this many sentences closest to the "
                                                                   "question (retrieval.compress): a small reader's "
                                                                   "context holds them; null shows whole passages")

    @field_validator("reader")
    @classmethod
    def _known_reader(cls, reader: str) -> str:
        if reader not in ("builtin", "base") and not Path(reader).exists():
            raise ValueError(f"{reader!r}: no such folder; accepted: builtin, base or a reader's run or model folder")
        return reader


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
    """Behavioural SFT on the domain's instructions, asked as the study asks them."""

    steps: int = 250
    seq_len: int = 512
    questions: bool = Field(default=True, description="its training questions too, answered in a line: the "
                                                      "model then answers a question plainly, an instruction "
                                                      "with a record (what RAG + SFT tells apart)")


class RagSftSettings(RagSettings):
    """The model of an SFT strategy of the same study writes each record; the reader fills its fields
    from the passages (`retrieval.fill`)."""

    over: str = Field(default="sft", description="name of the sft strategy whose model writes")
