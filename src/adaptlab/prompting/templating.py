"""Prompt templates as Jinja2 files: the built-ins shipped in `templates/`, or a user's own file.

A template sees three variables: `question`, `examples` (each with .id, .question,
.answer, .reasoning) and `instruction`. Every name a template (or any template it
extends or includes) looks up is checked when it loads, so a typo is one error
naming the file and the accepted names instead of a blank in every prompt.
Built-ins are addressed as `adaptlab/<name>.j2`; a user template may extend one and
override a single block (`instruction`, `examples` or `question`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2 import meta

from adaptlab.errors import UserError
from adaptlab.prompting.examples import Example

VARIABLES = ("examples", "instruction", "question")
BUILTIN = ("zero_shot", "few_shot", "chain_of_thought", "hybrid")
REASONING = ("chain_of_thought", "hybrid")  # built-ins whose output ends in "Answer: ..."
PREFIX = "adaptlab"


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded, checked template."""

    source: str  # what the user gave: a built-in name or a file path
    template: jinja2.Template
    uses_examples: bool
    reasons: bool  # is (or extends) a chain-of-thought built-in

    def render(self, question: str, examples: Sequence[Example] = (), instruction: str = "") -> str:
        try:
            return self.template.render(question=question, examples=list(examples), instruction=instruction)
        except jinja2.TemplateError as exc:
            raise UserError(f"template {self.source}: {exc}; an example has: id, question, answer, reasoning") from None


def _environment(search_dir: Path | None) -> jinja2.Environment:
    """Built-ins under `adaptlab/`, then the user template's own folder."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({PREFIX: jinja2.PackageLoader("adaptlab.prompting")})]
    if search_dir is not None:
        loaders.append(jinja2.FileSystemLoader(search_dir))
    loader = jinja2.ChoiceLoader(loaders)
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)


def _check(env: jinja2.Environment, name: str, seen: set[str], referrer: str = "") -> set[str]:
    """Variables used by template `name` and all it references; an unknown one is a UserError."""
    seen.add(name)
    try:
        source, filename, _ = env.loader.get_source(env, name)
        ast = env.parse(source, name, filename)
    except jinja2.TemplateNotFound:
        raise UserError(f"{referrer}: template {name!r} not found; built-ins: "
                        f"{', '.join(f'{PREFIX}/{b}.j2' for b in BUILTIN)}, or a file beside the template") from None
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    used = meta.find_undeclared_variables(ast)
    unknown = sorted(used - set(VARIABLES))
    if unknown:
        raise UserError(f"{filename}: unknown template variable {unknown[0]!r}; accepted: {', '.join(VARIABLES)}")
    for ref in meta.find_referenced_templates(ast):
        if ref is None:
            raise UserError(f"{filename}: extends or includes a computed template name; give a fixed name")
        if ref not in seen:
            used |= _check(env, ref, seen, filename)
    return used


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """A built-in by name (zero_shot, few_shot, chain_of_thought, hybrid) or a .j2 file."""
    source = str(name_or_path)
    if source in BUILTIN:
        env, name = _environment(None), f"{PREFIX}/{source}.j2"
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"{source}: no such template file; give a .j2 file or a built-in: {', '.join(BUILTIN)}")
        env, name = _environment(path.parent), path.name
    seen: set[str] = set()
    used = _check(env, name, seen)
    return PromptTemplate(source=source, template=env.get_template(name), uses_examples="examples" in used,
                          reasons=any(f"{PREFIX}/{b}.j2" in seen for b in REASONING))
