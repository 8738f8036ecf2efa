"""Settings in, validated: YAML files and CLI overrides become pydantic models.

A mistake becomes one `UserError` line naming the field, the value given and what
is accepted, so the CLI never shows a traceback for a typo.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from adaptlab.errors import UserError

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """The first problem of a validation error as one line; a misspelt field first, since it is
    also why a required one is reported missing."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path, node = _walk(model, err["loc"][:-1] if err["type"] == "extra_forbidden" else err["loc"])
    if err["type"] == "extra_forbidden":
        inner = _submodel(node)
        accepted = list(inner.model_fields) if inner is not None else []
        field = ".".join([*path, str(err["loc"][-1])])
        close = difflib.get_close_matches(str(err["loc"][-1]), accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{source}: unknown field {field!r}{hint}; accepted: {', '.join(accepted)}"
    field = ".".join(path) or "(settings)"
    if err["type"] == "union_tag_not_found":
        tags = ", ".join(tag for m in _models(node) for tag in _tags(m))
        return f"{source}: {field}: give its name, one of {tags}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    message = err["msg"].removeprefix("Value error, ")
    return f"{source}: {field}: {message}{shown}"


def _walk(model: type[BaseModel], loc: tuple) -> tuple[list[str], Any]:
    """The path a user wrote for `loc` (without the tags pydantic adds inside a tagged union) and the
    annotation it ends at."""
    path: list[str] = []
    node: Any = model
    for part in loc:
        current = _submodel(node)
        if isinstance(part, str) and current is not None and part in current.model_fields:
            path.append(part)
            node = current.model_fields[part].annotation
            continue
        tagged = [m for m in _models(node) if isinstance(part, str) and part in _tags(m)]
        if tagged:
            node = tagged[0]  # pydantic's tag: the member chosen, not a field the user wrote
            continue
        path.append(str(part))
    return path, node


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Every model an annotation holds: itself, or inside unions, `Annotated`, optionals and lists."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds when it holds exactly one kind."""
    models = list(dict.fromkeys(_models(annotation)))
    return models[0] if len(models) == 1 else None


def _tags(model: type[BaseModel]) -> tuple[str, ...]:
    """The values a tagged-union member's `name` takes (its Literal's)."""
    field = model.model_fields.get("name")
    return tuple(str(a) for a in get_args(field.annotation)) if field is not None else ()


def validate(model: type[M], data: dict[str, Any], source: str = "settings") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, model, source)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file; anything else is an error naming the file."""
    if Path(path).is_dir():
        raise UserError(f"{path}: is a folder; give a YAML file")
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such config file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge CLI overrides (None means 'not given') into settings from a file."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge({}, value)
        else:
            out[key] = value
    return out
