"""Strict output formats for instructions, and the checker that measures compliance.

An instruction asks for one record in one layout. Its `format` spec carries all a
checker needs — `{"kind", "fields": {name: "text" | "number"}}`, plus `"element"`
for XML — so compliance can be scored on any model's reply without the generator.
Checks are strict (exact keys, no text around the record, right value types) but
ignore whitespace around the whole reply, which decoders add freely.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from adaptlab.errors import UserError

FIELD_TYPES = ("text", "number")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

Spec = dict[str, Any]
Values = Mapping[str, Any]


@dataclass(frozen=True)
class Format:
    """One layout: how a prompt shows it, how a reference reply renders, how a reply is checked."""

    kind: str
    key: Callable[[str], str]  # how a field name is written in this layout
    skeleton: Callable[[Spec], str]
    render: Callable[[Spec, Values], str]
    check: Callable[[Spec, str], bool]


def _text_ok(ftype: str, value: str) -> bool:
    """A value written as text: non-empty, no surrounding blanks, numeric where a number is due."""
    if ftype == "number":
        return _NUMBER.fullmatch(value) is not None
    return bool(value) and value == value.strip() and "\n" not in value


def _json_ok(ftype: str, value: Any) -> bool:
    if ftype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str) and _text_ok("text", value)


def _fields_ok(spec: Spec, got: Mapping[str, Any], value_ok: Callable[[str, Any], bool]) -> bool:
    fields = spec["fields"]
    return set(got) == set(fields) and all(value_ok(ftype, got[name]) for name, ftype in fields.items())


# --- xml: <element a="..." b="..."/> --------------------------------------------------


def _xml_skeleton(spec: Spec) -> str:
    attrs = " ".join(f'{name}="..."' for name in spec["fields"])
    return f"<{spec['element']} {attrs}/>"


def _xml_attr(value: Any) -> str:
    return escape(str(value), {'"': "&quot;"})


def _xml_render(spec: Spec, values: Values) -> str:
    attrs = " ".join(f'{name}="{_xml_attr(values[name])}"' for name in spec["fields"])
    return f"<{spec['element']} {attrs}/>"


def _xml_check(spec: Spec, out: str) -> bool:
    # The prefix rules out text before the element and any DOCTYPE (so no entity
    # expansion); the suffix insists on the self-closing form the prompt shows.
    if not (out.startswith(f"<{spec['element']} ") and out.endswith("/>")):
        return False
    try:
        root = ET.fromstring(out)
    except ET.ParseError:
        return False
    return len(root) == 0 and _fields_ok(spec, root.attrib, _text_ok)


# --- json: one line, exactly the keys --------------------------------------------------


_JSON_PLACEHOLDERS = {"text": '"..."', "number": "<number>"}


def _json_skeleton(spec: Spec) -> str:
    parts = (f'"{name}": {_JSON_PLACEHOLDERS[ftype]}' for name, ftype in spec["fields"].items())
    return "{" + ", ".join(parts) + "}"


def _json_render(spec: Spec, values: Values) -> str:
    return json.dumps({name: values[name] for name in spec["fields"]}, ensure_ascii=False)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads hook: a repeated key is malformed, not 'last one wins'."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _json_check(spec: Spec, out: str) -> bool:
    if "\n" in out:
        return False
    try:
        obj = json.loads(out, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
    except ValueError:
        return False
    return isinstance(obj, dict) and _fields_ok(spec, obj, _json_ok)


# --- keyvalue: KEY: value, one per line, in the given order ------------------------------


def _kv_skeleton(spec: Spec) -> str:
    return "\n".join(f"{name.upper()}: <{ftype}>" for name, ftype in spec["fields"].items())


def _kv_render(spec: Spec, values: Values) -> str:
    return "\n".join(f"{name.upper()}: {values[name]}" for name in spec["fields"])


def _kv_line_ok(line: str, name: str, ftype: str) -> bool:
    key, sep, value = line.partition(": ")
    return key == name.upper() and sep == ": " and _text_ok(ftype, value)


def _kv_check(spec: Spec, out: str) -> bool:
    lines = out.split("\n")
    fields = spec["fields"]
    return len(lines) == len(fields) and all(
        _kv_line_ok(line, name, ftype) for line, (name, ftype) in zip(lines, fields.items())
    )


# --- csv: a header line in the given order, then one row ---------------------------------


def _csv_skeleton(spec: Spec) -> str:
    return ",".join(spec["fields"])


def _csv_render(spec: Spec, values: Values) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(spec["fields"]))
    writer.writerow([values[name] for name in spec["fields"]])
    return buf.getvalue().rstrip("\n")


def _csv_check(spec: Spec, out: str) -> bool:
    lines = out.split("\n")
    if len(lines) != 2:
        return False
    try:
        header, row = list(csv.reader(lines, strict=True))
    except csv.Error:
        return False
    fields = spec["fields"]
    return (
        header == list(fields)
        and len(row) == len(fields)
        and all(_text_ok(ftype, value) for ftype, value in zip(fields.values(), row))
    )


FORMATS: dict[str, Format] = {
    f.kind: f
    for f in (
        Format("xml", str, _xml_skeleton, _xml_render, _xml_check),
        Format("json", str, _json_skeleton, _json_render, _json_check),
        Format("keyvalue", str.upper, _kv_skeleton, _kv_render, _kv_check),
        Format("csv", str, _csv_skeleton, _csv_render, _csv_check),
    )
}


def make_spec(kind: str, fields: Mapping[str, str], element: str = "record") -> Spec:
    """A format spec; `element` names the XML element and is kept only for XML."""
    spec: Spec = {"kind": kind, "fields": dict(fields)}
    if kind == "xml":
        spec["element"] = element
    return _validated(spec)


def _validated(spec: Any) -> Spec:
    """The spec itself is input (often read back from JSONL): a bad one is a user error."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise UserError(f"format spec is not JSON ({exc})") from None
    if not isinstance(spec, dict) or spec.get("kind") not in FORMATS:
        raise UserError(f"format spec needs 'kind' in: {', '.join(FORMATS)} (got {spec!r})")
    fields = spec.get("fields")
    if not isinstance(fields, dict) or not fields or any(t not in FIELD_TYPES for t in fields.values()):
        raise UserError(f"format spec needs 'fields': a non-empty mapping of name to {' or '.join(FIELD_TYPES)}")
    if spec["kind"] == "xml" and not isinstance(spec.get("element"), str):
        raise UserError("xml format spec needs 'element': the element name")
    return spec


def render(format_spec: Spec, values: Values) -> str:
    """The reference reply: `values` laid out exactly as the spec demands."""
    spec = _validated(format_spec)
    return FORMATS[spec["kind"]].render(spec, values)


def skeleton(format_spec: Spec) -> str:
    """The layout as a prompt shows it, with placeholders for the values."""
    spec = _validated(format_spec)
    return FORMATS[spec["kind"]].skeleton(spec)


def check_format(format_spec: Spec | str, output: str) -> bool:
    """Whether `output` complies with the spec: the record alone, exact keys, right types.

    Only whitespace around the whole output is forgiven; text before or after,
    a missing, extra or renamed key, a wrong element, a malformed record or a
    non-numeric number all fail.
    """
    spec = _validated(format_spec)
    return isinstance(output, str) and FORMATS[spec["kind"]].check(spec, output.strip())


# --- reading a reply back: its fields' values ---------------------------------------------


def _xml_fields(out: str) -> tuple[str, dict[str, str]] | None:
    try:
        root = ET.fromstring(out) if out.startswith("<") and "<!" not in out else None
    except ET.ParseError:
        return None
    return None if root is None or len(root) else (root.tag, dict(root.attrib))


def _json_fields(out: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(out, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not all(isinstance(v, str | int | float) and not isinstance(v, bool)
                                            for v in obj.values()):
        return None
    return {k: str(v) for k, v in obj.items()}


def _kv_fields(out: str) -> dict[str, str] | None:
    pairs = [line.partition(": ") for line in out.split("\n")]
    if not all(sep and key and key == key.upper() for key, sep, _ in pairs):
        return None
    fields = {key.lower(): value for key, _, value in pairs}
    return fields if len(fields) == len(pairs) else None


def _csv_fields(out: str) -> dict[str, str] | None:
    lines = out.split("\n")
    if len(lines) != 2:
        return None
    try:
        header, row = list(csv.reader(lines, strict=True))
    except (csv.Error, ValueError):
        return None
    if len(header) != len(row) or len(set(header)) != len(header):
        return None
    return dict(zip(header, row))


def parse_record(output: str) -> tuple[Spec, dict[str, str]] | None:
    """The record a reply holds, read without being told its layout: its spec (kind, fields in
    order, a field a number where its value reads as one) and each field's value as written;
    None when the reply is no record of any kind. Lenient where `check_format` is strict (text
    around a JSON object still fails), so a reply's facts can be scored apart from its form."""
    out = output.strip() if isinstance(output, str) else ""
    fields: dict[str, Any] | None
    element = None
    if out.startswith("{"):
        fields, kind = _json_fields(out), "json"
    elif out.startswith("<"):
        found = _xml_fields(out)
        fields, kind = (found[1], "xml") if found else (None, "xml")
        element = found[0] if found else None
    elif ": " in out.split("\n")[0]:
        fields, kind = _kv_fields(out), "keyvalue"
    else:
        fields, kind = _csv_fields(out), "csv"
    if not fields:
        return None
    types = {name: "number" if _NUMBER.fullmatch(value) else "text" for name, value in fields.items()}
    spec: Spec = {"kind": kind, "fields": types}
    if element is not None:
        spec["element"] = element
    return spec, fields


def field_values(format_spec: Spec | str, output: str) -> dict[str, str] | None:
    """The values of the spec's fields in a reply of the spec's kind (each as written), or None when the
    reply holds no such record or lacks one of the fields."""
    spec = _validated(format_spec)
    parsed = parse_record(output)
    if parsed is None or parsed[0]["kind"] != spec["kind"] or not set(spec["fields"]) <= set(parsed[1]):
        return None
    return {name: parsed[1][name] for name in spec["fields"]}
