"""A model behind a prompt recipe, as an LM: evaluation sees raw questions, the model sees prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adaptlab.lm import LM
from adaptlab.prompting.answers import extract_answer
from adaptlab.prompting.prompter import Prompter, PromptSettings


class PromptedLM(LM):
    """Renders each request's context (the raw question) through a Prompter, then asks the inner LM.

    With `extract_answer` (default: when the template reasons, i.e. chain_of_thought or
    hybrid) generations are cut down to their final answer, so metrics compare answers.
    """

    def __init__(self, inner: LM, prompter: Prompter, *, extract_answer: bool | None = None):
        self.inner = inner
        self.prompter = prompter
        self.extract = prompter.template.reasons if extract_answer is None else extract_answer

    @classmethod
    def from_settings(cls, inner: LM, settings: PromptSettings) -> PromptedLM:
        return cls(inner, Prompter.from_settings(settings), extract_answer=settings.extract_answer)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        prompts = self.prompter.render([context for context, _ in requests])
        return self.inner.loglikelihood([(p, cont) for p, (_, cont) in zip(prompts, requests)])

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """Unchanged: a rolling score is a text's own likelihood from an empty context, with no
        question to put in a template; prompting it would score the template, not the text."""
        return self.inner.loglikelihood_rolling(texts)

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        prompts = self.prompter.render([context for context, _ in requests])
        outputs = self.inner.generate_until([(p, kwargs) for p, (_, kwargs) in zip(prompts, requests)])
        return [extract_answer(o) for o in outputs] if self.extract else outputs
