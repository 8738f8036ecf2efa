"""A pipeline declared in YAML.

    stages:
      - {name: ask, template: few_shot, examples: qa_train.jsonl, k: 3, select: similar}
      - {name: model, lm: runs/decoder, generate: {max_gen_toks: 32, until: ["\\n\\n"]}}
      - {name: answer, function: adaptlab.prompting.answers:extract_answer}

A stage's kind is the key it carries: `lm` (a run folder), `function` ("package.module:function",
str -> str) or `template` (a prompt stage; the other keys are PromptSettings'). Relative
paths are read from the YAML file's folder, and a function's module may live there too,
so a pipeline folder moves as one piece.
"""

from __future__ import annotations

import difflib
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adaptlab.config import read_yaml, validate
from adaptlab.engine.requests import GenKwargs
from adaptlab.errors import UserError
from adaptlab.lm import LM, HFCausalLM
from adaptlab.pipeline.pipeline import Pipeline, check_stage_names
from adaptlab.pipeline.stages import FunctionStage, LMStage, PromptStage, Stage
from adaptlab.prompting.prompter import Prompter, PromptSettings
from adaptlab.prompting.templating import BUILTIN


class PipelineFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[dict[str, Any]] = Field(default_factory=list)  # a default, so a typo of it is named as one


class LMStageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    lm: Path
    generate: GenKwargs = GenKwargs()


class FunctionStageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    function: str

    @field_validator("function")
    @classmethod
    def _importable(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.]+:\w+", value):
            raise ValueError("expected package.module:function")
        return value


class PromptStageConfig(PromptSettings):
    name: str


StageConfig = LMStageConfig | FunctionStageConfig | PromptStageConfig
KINDS: dict[str, type[StageConfig]] = {"lm": LMStageConfig, "function": FunctionStageConfig,
                                     "template": PromptStageConfig}


def load_pipeline(path: Path) -> Pipeline:
    """Validate every stage, then build them in order (LMs from the same folder are loaded once)."""
    path = Path(path)
    spec = validate(PipelineFile, read_yaml(path), source=str(path))
    configs = [_stage_config(path, i, raw) for i, raw in enumerate(spec.stages)]
    try:
        check_stage_names([config.name for config in configs])
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    lms: dict[Path, LM] = {}
    stages = []
    for config in configs:
        try:
            stages.append(_build(config, path.parent, lms))
        except UserError as exc:
            raise UserError(f"{path}: stage {config.name!r}: {exc}") from None
    return Pipeline(stages)


def _stage_config(path: Path, index: int, raw: dict[str, Any]) -> StageConfig:
    where = f"{path}: stage {raw['name']!r}" if isinstance(raw.get("name"), str) else f"{path}: stages[{index}]"
    kinds = [key for key in KINDS if key in raw]
    if len(kinds) != 1:
        close = [m for key in raw for m in difflib.get_close_matches(str(key), KINDS, n=1)]
        hint = f" (did you mean {close[0]!r}?)" if not kinds and close else ""
        raise UserError(f"{where}: a stage has exactly one of {', '.join(KINDS)}; "
                        f"got {', '.join(kinds) or 'none'}{hint}")
    return validate(KINDS[kinds[0]], raw, source=where)


def _build(config: StageConfig, base: Path, lms: dict[Path, LM]) -> Stage:
    if isinstance(config, LMStageConfig):
        folder = base / config.lm
        if folder not in lms:
            lms[folder] = HFCausalLM.from_path(folder)
        return LMStage(config.name, lms[folder], config.generate.model_dump(exclude_none=True))
    if isinstance(config, FunctionStageConfig):
        return FunctionStage(config.name, _import_function(config.function, base))
    settings = config.model_dump(exclude={"name"}, exclude_unset=True)
    if config.template not in BUILTIN:
        settings["template"] = str(base / config.template)
    if config.examples is not None:
        settings["examples"] = base / config.examples
    return PromptStage(config.name, Prompter.from_settings(PromptSettings.model_validate(settings)))


def _import_function(spec: str, base: Path) -> Callable[[str], str]:
    """`package.module:function`, importable from the installed packages or the YAML's folder."""
    module_name, attr = spec.split(":")
    sys.path.insert(0, str(base))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"function {spec!r}: cannot import {module_name!r} ({exc}); "
                        "expected package.module:function") from None
    finally:
        sys.path.remove(str(base))
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"function {spec!r}: {module_name} has no function {attr!r}")
    return fn
