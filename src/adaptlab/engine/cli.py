"""`adaptlab generate`: continuations of prompts from a run or checkpoint folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True)


def generate(
    path: Annotated[Path, typer.Argument(help="A run folder or a local Hugging Face checkpoint folder.")],
    prompt: Annotated[list[str], typer.Option(help="Prompt text; repeat for several.")] = [""],
    max_new_tokens: int = 64,
    temperature: Annotated[float, typer.Option(help="0 for greedy.")] = 0.8,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
) -> None:
    """Generate continuations (KV cache on)."""
    from adaptlab.config import validate
    from adaptlab.engine.generate import generate as run_generate
    from adaptlab.engine.requests import GenerationSettings
    from adaptlab.runs import load_model

    settings = validate(GenerationSettings, {"max_new_tokens": max_new_tokens, "temperature": temperature,
                                             "top_k": top_k, "top_p": top_p, "seed": seed}, source="generate")
    loaded = load_model(path)
    for text, result in zip(prompt, run_generate(loaded.model, loaded.tokenizer, prompt, settings)):
        out.print(f"[bold]{escape(text)}[/]{escape(result.text)}" if text else escape(result.text), highlight=False)
