"""The steps of a pipeline: each takes the previous step's text and returns the next."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adaptlab.errors import UserError
from adaptlab.lm import LM
from adaptlab.prompting.prompter import Prompter


class Stage(ABC):
    name: str

    @abstractmethod
    def apply(self, text: str, gen_kwargs: dict[str, Any]) -> str:
        """The stage's output for `text`; `gen_kwargs` are the caller's, given to the final LM stage only."""


@dataclass
class LMStage(Stage):
    """Generates from the text with an LM; the caller's gen_kwargs override the stage's own."""

    name: str
    lm: LM
    generate: dict[str, Any] = field(default_factory=dict)

    def apply(self, text: str, gen_kwargs: dict[str, Any]) -> str:
        return self.lm.generate_until([(text, {**self.generate, **gen_kwargs})])[0]


@dataclass
class FunctionStage(Stage):
    """A Python function from str to str."""

    name: str
    fn: Callable[[str], str]

    def apply(self, text: str, gen_kwargs: dict[str, Any]) -> str:
        out = self.fn(text)
        if not isinstance(out, str):
            raise UserError(f"{getattr(self.fn, '__name__', self.fn)} returned {type(out).__name__}; "
                            "a stage function takes a str and returns a str")
        return out


@dataclass
class PromptStage(Stage):
    """Renders the text, as the question, through a prompt recipe."""

    name: str
    prompter: Prompter

    def apply(self, text: str, gen_kwargs: dict[str, Any]) -> str:
        return self.prompter.render([text])[0]
