"""A chain of stages, timed, and usable wherever an LM is.

As an LM: `generate_until` runs every stage, handing the request's gen_kwargs to the
last LM stage (earlier LM stages keep their own settings). `loglikelihood` runs the
stages before the last LM stage on the context and lets that LM score the
continuation: stages after it post-process generated text, which a score never is.
`loglikelihood_rolling` goes to the last LM stage unchanged, as in PromptedLM: a
text's own likelihood has no context for the earlier stages to transform.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from adaptlab.errors import UserError
from adaptlab.lm import LM
from adaptlab.pipeline.stages import FunctionStage, LMStage, Stage


class StageError(RuntimeError):
    """A stage failed with something other than a user mistake; the cause keeps its traceback."""


class StageFunctionError(StageError, UserError):
    """A user's stage function raised: their code, so the CLI prints one line naming the stage and the
    error (a caller in Python still has the cause and its traceback)."""


@dataclass(frozen=True)
class StageRun:
    name: str
    output: str
    seconds: float


@dataclass(frozen=True)
class PipelineResult:
    stages: list[StageRun]

    @property
    def output(self) -> str:
        return self.stages[-1].output

    @property
    def seconds(self) -> dict[str, float]:
        return {run.name: run.seconds for run in self.stages}


def check_stage_names(names: Sequence[str]) -> None:
    """At least one stage, each named once (names key the timings and the errors)."""
    if not names:
        raise UserError("a pipeline needs at least one stage")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"stage name {repeated[0]!r} is used twice; stage names must be unique")


class Pipeline(LM):
    def __init__(self, stages: Sequence[Stage]):
        check_stage_names([stage.name for stage in stages])
        self.stages = list(stages)
        lm_stages = [i for i, stage in enumerate(self.stages) if isinstance(stage, LMStage)]
        self.scorer = lm_stages[-1] if lm_stages else None  # index of the last LM stage

    def run(self, text: str, gen_kwargs: dict[str, Any] | None = None) -> PipelineResult:
        """Every stage in order, each timed; `gen_kwargs` go to the last LM stage."""
        return PipelineResult(self._run(text, gen_kwargs or {}, len(self.stages)))

    def _run(self, text: str, gen_kwargs: dict[str, Any], upto: int) -> list[StageRun]:
        runs = []
        for i, stage in enumerate(self.stages[:upto]):
            start = time.perf_counter()
            with _naming(stage):
                text = stage.apply(text, gen_kwargs if i == self.scorer else {})
            runs.append(StageRun(stage.name, text, time.perf_counter() - start))
        return runs

    def _scorer(self) -> tuple[int, LMStage]:
        """The last LM stage and its index; scoring needs one."""
        if self.scorer is None:
            raise UserError(f"pipeline stages {', '.join(s.name for s in self.stages)} include no lm stage; "
                            "scoring needs one")
        stage = self.stages[self.scorer]
        assert isinstance(stage, LMStage)
        return self.scorer, stage

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        return [self.run(context, gen_kwargs).output for context, gen_kwargs in requests]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        index, stage = self._scorer()
        scored = []
        for context, continuation in requests:
            before = self._run(context, {}, index)
            scored.append((before[-1].output if before else context, continuation))
        with _naming(stage):
            return stage.lm.loglikelihood(scored)

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        _, stage = self._scorer()
        with _naming(stage):
            return stage.lm.loglikelihood_rolling(texts)


@contextmanager
def _naming(stage: Stage) -> Iterator[None]:
    """Re-raise what a stage raises as an error naming the stage."""
    try:
        yield
    except UserError as exc:
        raise UserError(f"stage {stage.name!r}: {exc}") from exc
    except Exception as exc:
        error = StageFunctionError if isinstance(stage, FunctionStage) else StageError
        message = " ".join(str(exc).split()) or "(no message)"
        raise error(f"stage {stage.name!r} failed: {type(exc).__name__}: {message}") from exc
