"""Settings of a pretraining run: what to train on, which model, and how."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

from adaptlab import registry
from adaptlab.models.presets import ModelConfig
from adaptlab.train.precision import RequestedPrecision
from adaptlab.train.sft_data import SFTSettings


class TrainConfig(BaseModel):
    """The optimisation recipe; defaults follow nanoGPT's small-model settings."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=1000, gt=0)
    batch_size: int = Field(default=12, gt=0, description="sequences per micro-batch per process")
    grad_accum: int = Field(default=1, gt=0)
    seq_len: int = Field(default=64, gt=1)
    lr: float = Field(default=1e-3, gt=0)
    min_lr: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=100, ge=0)
    weight_decay: float = Field(default=0.1, ge=0)
    beta1: float = Field(default=0.9, gt=0, lt=1)
    beta2: float = Field(default=0.99, gt=0, lt=1)
    grad_clip: float = Field(default=1.0, ge=0, description="0 disables clipping")
    eval_every: int = Field(default=250, gt=0)
    eval_batches: int = Field(default=20, gt=0)
    checkpoint_every: int = Field(default=500, gt=0)
    log_every: int = Field(default=10, gt=0)
    seed: int = 1337
    precision: RequestedPrecision = "auto"
    compile: bool = False
    fsdp: bool = False
    patience: int | None = Field(default=None, gt=0, description="evaluations without improvement before stopping")
    min_delta: float = Field(default=0.0, ge=0)
    overtrain_window: int = Field(default=3, gt=1, description="evaluations of rising validation loss that warn")
    stop_on_overtrain: bool = False
    mlm_probability: float = Field(default=0.15, gt=0, lt=1)
    noise_density: float = Field(default=0.15, gt=0, lt=1)
    mean_span_length: float = Field(default=3.0, ge=1)

    @model_validator(mode="after")
    def _min_lr_below_lr(self) -> TrainConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr {self.min_lr} is above lr {self.lr}")
        return self


class PretrainConfig(BaseModel):
    """A whole training run on token shards: from scratch, or from a base (continued
    pretraining), with all weights trained or a parameter-efficient adapter: `method`, one of
    the registered methods' settings (`method: lora` or `method: {name: lora, r: 16}`)."""

    model_config = ConfigDict(extra="forbid")

    data: Path | None = Field(default=None, description="token shards (pretraining objectives)")
    out: Path
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tokenizer: Path | None = Field(default=None, description="defaults to the tokenizer named in the shards' meta.json")
    base: Path | None = Field(default=None, description="run or checkpoint folder to start from (else from scratch)")
    method: SerializeAsAny[registry.settings_union()] = Field(  # type: ignore[valid-type]
        default_factory=lambda: registry.method("full").settings(), description="how the weights are adapted")
    sft: SFTSettings | None = Field(default=None, description="supervised fine-tuning data instead of shards "
                                                              "(an encoder base learns to extract each response)")

    @model_validator(mode="after")
    def _one_kind_of_data(self) -> PretrainConfig:
        if (self.data is None) == (self.sft is None):
            raise ValueError("give exactly one of data (token shards) or sft (instruction JSONL)")
        if self.sft is not None and self.base is None:
            raise ValueError("supervised fine-tuning starts from a base: set base")
        return self

    @model_validator(mode="after")
    def _adapter_needs_a_base(self) -> PretrainConfig:
        if self.adapts.frozen_base and self.base is None:
            raise ValueError(f"method {self.method.name} trains an adapter on a base: set base")
        return self

    @property
    def adapts(self) -> registry.Method:
        """The registered method the run trains with."""
        return registry.method(self.method.name)

    @model_validator(mode="after")
    def _context_fits_training_windows(self) -> PretrainConfig:
        """Unless set, the model's context is the training window length."""
        if "max_seq_len" not in self.model.model_fields_set:
            self.model.max_seq_len = self.train.seq_len
        return self
