"""`adaptlab prompt ...`: render prompts, and ask a model through them. Heavy imports stay inside
the commands so `adaptlab --help` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Prompt templates and example selection: render prompts, ask a model through them.")
out = Console(soft_wrap=True)

Questions = Annotated[list[str], typer.Argument(help="Questions; each is rendered as the template's `question`.")]
Template = Annotated[Optional[str], typer.Option(
    help="A built-in (zero_shot, few_shot, chain_of_thought, hybrid) or a .j2 file. [default: few_shot]")]
Examples = Annotated[Optional[Path], typer.Option(help="JSONL of solved examples: question, answer, "
                                                       "optional reasoning and id.")]
K = Annotated[Optional[int], typer.Option("--k", help="Examples per prompt: 0 zero-, 1 one-, n few-shot. [default: 3]")]
Select = Annotated[Optional[str], typer.Option(help="fixed, random or similar. [default: fixed]")]
Ids = Annotated[Optional[list[str]], typer.Option("--id", help="An example id to show (select fixed); repeat.")]
Seed = Annotated[Optional[int], typer.Option(help="Seed of random selection. [default: 0]")]
Instruction = Annotated[Optional[str], typer.Option(help="Text put before the examples.")]


def _prompt_settings(**given: Any) -> Any:
    """PromptSettings from the options given (None means not given, so defaults apply)."""
    from adaptlab.config import validate
    from adaptlab.prompting.prompter import PromptSettings

    return validate(PromptSettings, {key: value for key, value in given.items() if value is not None},
                    source="prompt")


@app.command("render")
def render(questions: Questions, template: Template = None, examples: Examples = None, k: K = None,
           select: Select = None, ids: Ids = None, seed: Seed = None, instruction: Instruction = None) -> None:
    """Print the prompt each question becomes."""
    from adaptlab.prompting.prompter import Prompter

    settings = _prompt_settings(template=template, examples=examples, k=k, select=select, ids=ids, seed=seed,
                                instruction=instruction)
    prompts = Prompter.from_settings(settings).render(questions)
    out.print("\n\n-----\n\n".join(escape(p) for p in prompts), highlight=False)


@app.command("ask")
def ask(
    run: Annotated[Path, typer.Argument(help="A run folder or a local Hugging Face checkpoint folder.")],
    questions: Questions, template: Template = None, examples: Examples = None, k: K = None,
    select: Select = None, ids: Ids = None, seed: Seed = None, instruction: Instruction = None,
    extract_answer: Annotated[Optional[bool], typer.Option(
        help="Keep only the text after 'Answer:'. [default: for chain_of_thought and hybrid]")] = None,
    max_gen_toks: Annotated[int, typer.Option(min=1, help="Most tokens to generate per answer.")] = 64,
    until: Annotated[Optional[list[str]], typer.Option(help="Stop string; repeat. [default: blank line, "
                                                             "'\\nQuestion:']")] = None,
) -> None:
    """Answer each question with the model, prompted through the template (greedy)."""
    from adaptlab.lm import HFCausalLM
    from adaptlab.prompting.prompted_lm import PromptedLM

    settings = _prompt_settings(template=template, examples=examples, k=k, select=select, ids=ids, seed=seed,
                                instruction=instruction, extract_answer=extract_answer)
    lm = PromptedLM.from_settings(HFCausalLM.from_path(run), settings)
    gen_kwargs = {"until": until or ["\n\n", "\nQuestion:"], "max_gen_toks": max_gen_toks}
    for question, answer in zip(questions, lm.generate_until([(q, gen_kwargs) for q in questions])):
        out.print(f"[bold]{escape(question)}[/] {escape(answer.strip())}", highlight=False)
