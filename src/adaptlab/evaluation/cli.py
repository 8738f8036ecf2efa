"""`adaptlab eval`: held-out loss, perplexity and bits per byte, or format compliance, of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from adaptlab.errors import UserError

out = Console(soft_wrap=True)


def evaluate(
    path: Annotated[Path, typer.Argument(help="A run folder or a local Hugging Face checkpoint folder; with --qa "
                                              "or --instructions also a pipeline YAML.")],
    text: Annotated[Optional[Path], typer.Option(help="A text file to score.")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="A prepared corpus folder to score.")] = None,
    split: str = "validation",
    qa: Annotated[Optional[Path], typer.Option(help="QA pairs JSONL (question, answer): knowledge exact match.")]
    = None,
    instructions: Annotated[Optional[Path], typer.Option(help="Strict-format instructions JSONL: format "
                                                              "compliance.")] = None,
    template: Annotated[Optional[str], typer.Option(help="Ask through a prompt template: zero_shot, few_shot, "
                                                         "chain_of_thought, hybrid or a .j2 file.")] = None,
    examples: Annotated[Optional[Path], typer.Option(help="The template's solved examples (JSONL).")] = None,
    select: Annotated[Optional[str], typer.Option(help="How examples are picked: fixed, random or similar.")] = None,
    rag: Annotated[Optional[Path], typer.Option(help="Ask through retrieval over this index folder (the model "
                                                     "reads the passages).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", min=1, help="Examples per prompt (--template) or passages "
                                                               "retrieved (--rag).")] = None,
    sentences: Annotated[Optional[int], typer.Option(min=1, help="--rag: show only this many sentences closest to "
                                                                 "the question.")] = None,
    extractive: Annotated[bool, typer.Option("--extractive", help="--rag: copy the answer from the passages.")]
    = False,
    seed: Annotated[int, typer.Option(help="Seed of random example selection.")] = 0,
    precision: Annotated[str, typer.Option(help="Scoring precision: auto (bf16 where the CPU or GPU computes it and "
                                                "it measures faster), fp32 or bf16.")] = "auto",
) -> None:
    """Held-out loss, perplexity and bits per byte of a model (--text, --corpus); or, of a system (the model as
    it is, behind a prompt template or behind retrieval), knowledge exact match (--qa) and format compliance
    (--instructions), scored as the study scores them; written to the run's eval.json."""
    from adaptlab.runs import MANIFEST, write_eval

    system = {"template": template, "examples": examples, "select": select, "rag": rag, "k": k,
              "sentences": sentences, "extractive": extractive or None}
    if qa is not None or instructions is not None:
        if text is not None or corpus is not None:
            raise UserError("score a text (--text, --corpus) or a system's answers (--qa, --instructions), not both")
        from adaptlab.evaluation.systems import build_system, describe

        results = _tasks(build_system(path, seed=seed, **system), qa, instructions)
        if (path / MANIFEST).is_file():
            for section, metrics in results.items():
                write_eval(path, f"{section} ({describe(**system)})", metrics)
        return
    given = [f"--{key}" for key, value in system.items() if value is not None]
    if given:
        raise UserError(f"{', '.join(given)}: only used with --qa or --instructions (what the system answers)")
    if (text is None) == (corpus is None):
        raise UserError("give exactly one of --text FILE, --corpus DIR, or --qa / --instructions FILE")
    _score_texts(path, text, corpus, split, precision)


def _tasks(lm: object, qa: Optional[Path], instructions: Optional[Path]) -> dict[str, dict]:
    """Each task's metrics by its file, printed as they come."""
    from adaptlab.evaluation.tasks import format_compliance, knowledge_exact_match, read_instructions, read_qa

    results = {}
    if qa is not None:
        knowledge = knowledge_exact_match(lm, read_qa(qa))
        results[str(qa)] = {key: value for key, value in knowledge.items() if key != "answers"}
        out.print(f"knowledge exact match {knowledge['exact_match']:.3f} on {knowledge['questions']} questions",
                  highlight=False)
    if instructions is not None:
        behaviour = format_compliance(lm, read_instructions(instructions))
        results[str(instructions)] = behaviour
        out.print(f"format compliance {behaviour['format_compliance']:.3f}, content accuracy "
                  f"{behaviour['content_accuracy']:.3f}, exact match {behaviour['exact_match']:.3f} on "
                  f"{behaviour['instructions']} instructions", highlight=False)
    return results


def _score_texts(path: Path, text: Optional[Path], corpus: Optional[Path], split: str, precision: str) -> None:
    from adaptlab.corpus.documents import read_documents, split_path
    from adaptlab.evaluation.perplexity import evaluate_texts
    from adaptlab.runs import MANIFEST, load_model, write_eval
    from adaptlab.train.precision import REQUESTS

    if text is not None:
        if not text.is_file():
            raise UserError(f"{text}: no such text file")
        try:
            texts, source = [text.read_text(encoding="utf-8")], str(text)
        except UnicodeDecodeError:
            raise UserError(f"{text}: not UTF-8 text") from None
    else:
        texts, source = [d.text for d in read_documents(split_path(corpus, split))], f"{corpus}:{split}"
    if not any(t.strip() for t in texts):
        raise UserError(f"{source}: no text to score")
    if precision not in REQUESTS:
        raise UserError(f"--precision {precision!r}: accepted {', '.join(REQUESTS)}")
    metrics = evaluate_texts(load_model(path), texts, precision=precision)
    for key, value in metrics.items():
        out.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}", highlight=False)
    if (path / MANIFEST).is_file():
        write_eval(path, source, metrics)
