"""A system to evaluate, built the way the study builds its strategies: a model folder as it is, behind
a prompt template (with examples) or behind retrieval over an index; or a pipeline declared in YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adaptlab.errors import UserError
from adaptlab.lm import LM


def build_system(path: Path, *, template: str | None = None, examples: Path | None = None, select: str | None = None,
                 rag: Path | None = None, k: int | None = None, sentences: int | None = None,
                 extractive: bool | None = None, seed: int = 0) -> LM:
    """The model in `path` (a decoder or an extractive reader), prompted through `template` or reading
    what `rag` retrieves, or the pipeline a YAML `path` declares; options that belong to another kind
    of system are refused."""
    from adaptlab.retrieval.span_reader import load_reader

    if Path(path).is_file():
        given = [name for name, value in (("--template", template), ("--examples", examples), ("--select", select),
                                          ("--rag", rag), ("--k", k), ("--sentences", sentences),
                                          ("--extractive", extractive)) if value]
        if given:
            raise UserError(f"{', '.join(given)}: a pipeline ({path}) declares its own prompts and models; drop them")
        from adaptlab.pipeline.declare import load_pipeline

        return load_pipeline(Path(path))
    if template is not None and rag is not None:
        raise UserError("--template or --rag, not both: retrieval asks through its own prompt")
    if rag is None and (sentences is not None or extractive):
        raise UserError("--sentences, --extractive: only used with --rag")
    if template is None and (examples is not None or select is not None or (k is not None and rag is None)):
        raise UserError("--examples, --select, --k: only used with --template (or --k with --rag)")
    model = load_reader(path)
    if rag is not None:
        from adaptlab.retrieval.rag import RagLM
        from adaptlab.retrieval.search import open_searcher

        return RagLM(model, open_searcher(rag), k=k or 3, extractive=bool(extractive), sentences=sentences)
    if template is not None:
        from adaptlab.config import validate
        from adaptlab.prompting.prompted_lm import PromptedLM
        from adaptlab.prompting.prompter import PromptSettings

        given = {"template": template, "examples": examples, "k": k, "select": select, "seed": seed}
        settings = validate(PromptSettings, {key: v for key, v in given.items() if v is not None}, source="eval")
        return PromptedLM.from_settings(model, settings)
    return model


def describe(**system: Any) -> str:
    """The system in words, for eval.json's section names: `rag k=3 sentences=3`, `few_shot k=2`, `model`."""
    head = "rag" if system.get("rag") else system.get("template") or "model"
    knobs = [f"{key}={value}" for key, value in system.items()
             if value is not None and key not in ("rag", "template", "examples")]
    return " ".join([head, *knobs])
