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
    field = ".".join(str(part) for part in err["loc"]) or "(settings)"
    if err["type"] == "extra_forbidden":
        accepted = _accepted_fields(model, err["loc"][:-1])
        close = difflib.get_close_matches(str(err["loc"][-1]), accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{source}: unknown field {field!r}{hint}; accepted: {', '.join(accepted)}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    message = err["msg"].removeprefix("Value error, ")
    return f"{source}: {field}: {message}{shown}"


def _accepted_fields(model: type[BaseModel], parent: tuple) -> list[str]:
    """Field names of the (possibly nested) model the unknown field sits in: through submodels,
    optional ones and lists of them."""
    for part in parent:
        if not isinstance(part, str) or part not in model.model_fields:
            continue
        model = _submodel(model.model_fields[part].annotation) or model
    return list(model.model_fields)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or inside `X | None` / `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_submodel, get_args(annotation)) if m is not None), None)


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


def check_output(path: Path, *, folder: bool, what: str) -> None:
    """Refuse an output path that exists as the wrong kind (a file where a folder goes, or the
    reverse) before any work, rather than fail when writing and leave half an output behind."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; give a folder for {what} (new or existing)")
    if not folder and path.is_dir():
        raise UserError(f"{path}: is a folder; give a file path for {what}")


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
