"""A prompt recipe: template + example selection + instruction, turning raw questions into prompts.

`PromptSettings` is what a YAML or the CLI declares; `Prompter` is the built recipe,
shared by `PromptedLM` and a pipeline's prompt stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptlab.errors import UserError
from adaptlab.prompting.examples import read_examples
from adaptlab.prompting.selection import ExampleSelector, Strategy, make_selector
from adaptlab.prompting.templating import PromptTemplate, load_template


class PromptSettings(BaseModel):
    """How to prompt: which template, which examples and how many, which instruction."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field("few_shot", description="a built-in name or a .j2 file")
    examples: Path | None = Field(None, description="JSONL of solved examples; none means zero-shot")
    k: int = Field(3, ge=0, description="examples per prompt (0 zero-shot, 1 one-shot)")
    select: Strategy = "fixed"
    ids: list[str] | None = Field(None, description="example ids to show, in order (select=fixed; overrides k)")
    seed: int = 0
    instruction: str = ""
    extract_answer: bool | None = Field(None, description="keep only 'Answer: ...' of a generation; "
                                                          "default: yes for chain_of_thought and hybrid")

    @model_validator(mode="after")
    def _k_needs_examples(self) -> PromptSettings:
        if self.examples is None and (self.ids or ("k" in self.model_fields_set and self.k > 0)):
            raise ValueError(f"{'ids' if self.ids else f'k={self.k}'} needs an examples file (examples: a JSONL path)")
        return self


class Prompter:
    """Renders each question through a template with the examples a selector picks for it."""

    def __init__(self, template: PromptTemplate, selector: ExampleSelector | None = None, instruction: str = ""):
        self.template = template
        self.selector = selector
        self.instruction = instruction

    @classmethod
    def from_settings(cls, settings: PromptSettings) -> Prompter:
        template = load_template(settings.template)
        selector = None
        if settings.examples is not None and (settings.k > 0 or settings.ids):
            if not template.uses_examples:
                raise UserError(f"template {settings.template} never shows examples; set k: 0 or pick one "
                                "that does: few_shot, chain_of_thought, hybrid")
            pool = read_examples(settings.examples)
            if settings.ids is None and settings.k > len(pool):
                raise UserError(f"k={settings.k} but {settings.examples} holds {len(pool)} examples")
            selector = make_selector(settings.select, pool, settings.k, seed=settings.seed, ids=settings.ids)
        return cls(template, selector, settings.instruction)

    def render(self, questions: Sequence[str]) -> list[str]:
        """One prompt per question."""
        chosen = self.selector.select(questions) if self.selector else [[] for _ in questions]
        return [self.template.render(q, examples, self.instruction) for q, examples in zip(questions, chosen)]
