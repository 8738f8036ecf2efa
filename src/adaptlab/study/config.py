"""What `adaptlab study run` reads: one base, one domain, the strategies, the cost inputs.

```yaml
base: {builtin: true}               # or {run: runs/my-base}, or {train: {steps: 1000}} (pretrained here)
domain: {synthetic: {seed: 0}}      # or {folder: data/legal}: docs/ and the task files
strategies:                         # default: one of each method, named after it
  - {name: lora-r16, method: lora, settings: {r: 16, steps: 300}}
eval: {questions: 60}
costs: {requests_per_day: 50000}
```
Every mapping is strict: a misspelt field is one line naming it and the accepted names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adaptlab.adapt.bottleneck.model import NAME
from adaptlab.config import read_yaml, validate
from adaptlab.errors import UserError
from adaptlab.study.cost import CostSettings

DOMAIN_FILES = ("qa_train.jsonl", "qa_eval.jsonl", "instructions_train.jsonl", "instructions_eval.jsonl")
"""A domain folder holds docs/ (.txt, .md or .jsonl) and these: QA pairs (question, answer,
doc_id) and strict-format instructions (prompt, response, format), each split in two."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainedBase(_Strict):
    """A Llama-style decoder pretrained here on the built-in general English corpus (not instruction-tuned:
    prompting and retrieval then have little to work with)."""

    size: str = "1m"
    steps: int = Field(default=800, gt=0)
    seq_len: int = Field(default=512, gt=1, description="its context: room for two examples and a question")
    batch_size: int = Field(default=8, gt=0)
    vocab_size: int = Field(default=2048, ge=300)


class BaseSpec(_Strict):
    builtin: bool = Field(default=False, description="the shipped instruction-following base (study.builtin)")
    run: Path | None = Field(default=None, description="a local run or Hugging Face checkpoint folder")
    train: TrainedBase | None = None

    @model_validator(mode="after")
    def _one(self) -> BaseSpec:
        if sum((self.builtin, self.run is not None, self.train is not None)) != 1:
            raise ValueError("give exactly one of builtin: true (the shipped instruction-following base), run (a "
                             "local folder) or train (settings of a base pretrained here)")
        return self


class SyntheticDomain(_Strict):
    seed: int = 0
    compounds: int = Field(default=80, ge=8)


class DomainSpec(_Strict):
    synthetic: SyntheticDomain | None = None
    folder: Path | None = Field(default=None, description=f"docs/ and {', '.join(DOMAIN_FILES)}")

    @model_validator(mode="after")
    def _one(self) -> DomainSpec:
        if (self.synthetic is None) == (self.folder is None):
            raise ValueError("give exactly one of synthetic (the built-in domain) or folder (your own)")
        return self


class EvalSettings(_Strict):
    questions: int = Field(default=50, gt=0, description="knowledge questions asked (from qa_eval)")
    instructions: int = Field(default=20, gt=0, description="format instructions given (from instructions_eval)")
    latency_requests: int = Field(default=8, gt=0, description="single requests timed for latency")
    bpb_documents: int = Field(default=24, gt=0, description="held-out documents per bits-per-byte figure")


class StrategySpec(_Strict):
    name: str = Field(min_length=1)
    method: str
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        """The name is the strategy's folder under strategies/: nothing that could lead out of it."""
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r}: use letters, digits, '_' and '-' (it names the strategy's folder)")
        return name


def default_strategies() -> list[StrategySpec]:
    from adaptlab.study.strategies import DEFAULT_STRATEGIES

    return [StrategySpec(name=name, method=method, settings=settings) for name, method, settings in DEFAULT_STRATEGIES]


class StudyConfig(_Strict):
    base: BaseSpec = BaseSpec(builtin=True)
    domain: DomainSpec = DomainSpec(synthetic=SyntheticDomain())
    strategies: list[StrategySpec] = Field(default_factory=default_strategies, min_length=1)
    eval: EvalSettings = EvalSettings()
    costs: CostSettings = CostSettings()
    seed: int = 0
    seeds: int = Field(default=1, gt=0, description="runs of each strategy, seeds seed, seed + 1, ...: what the "
                                                    "seed changes (training order, sampling, example selection) "
                                                    "repeated, each measure reported as mean ± spread")


def check_strategies(config: StudyConfig, source: str) -> dict[str, BaseModel]:
    """Each strategy's settings, validated by its method; names unique; references resolved."""
    from adaptlab.study.strategies import study_methods

    methods = study_methods()
    settings: dict[str, BaseModel] = {}
    for i, spec in enumerate(config.strategies):
        where = f"{source}: strategies[{i}] ({spec.name})"
        if spec.method not in methods:
            raise UserError(f"{where}: unknown method {spec.method!r}; accepted: {', '.join(methods)}")
        if spec.name in settings:
            raise UserError(f"{where}: the name {spec.name!r} is used twice; each strategy needs its own")
        settings[spec.name] = validate(methods[spec.method].settings, spec.settings, f"{where} settings")
        over = getattr(settings[spec.name], "over", None)
        if over is not None and not any(s.name == over and s.method == "sft" for s in config.strategies[:i]):
            raise UserError(f"{where}: over={over!r} names no sft strategy listed before it")
    if config.costs.reference not in settings:
        raise UserError(f"{source}: costs.reference {config.costs.reference!r} is not a strategy of the study; "
                        f"accepted: {', '.join(settings)}")
    return settings


def check_domain_folder(folder: Path) -> None:
    missing = [name for name in ("docs", *DOMAIN_FILES) if not (folder / name).exists()]
    if missing:
        raise UserError(f"{folder}: a domain folder needs docs/ and {', '.join(DOMAIN_FILES)}; "
                        f"missing: {', '.join(missing)}")


def load_study(path: Path | None) -> tuple[StudyConfig, dict[str, BaseModel]]:
    """The study in `path` (None: the default study), checked whole before anything runs."""
    source = str(path) if path else "default study"
    config = validate(StudyConfig, read_yaml(path) if path else {}, source)
    if config.base.run is not None:  # a missing base would fail after study.json and the workspace are written
        from adaptlab.runs import resolve_model_dir

        try:
            resolve_model_dir(config.base.run)
        except UserError as exc:
            raise UserError(f"{source}: base.run: {exc}") from None
    if config.domain.folder is not None:
        check_domain_folder(config.domain.folder)
    return config, check_strategies(config, source)
