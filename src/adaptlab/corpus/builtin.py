"""A general English corpus from text every CPython installation carries.

Pretraining a small model from scratch, or measuring how much a domain shifts a
model, needs general English that is there without a network or a download: the
interpreter's own help topics (`pydoc_data.topics`) and the docstrings of the
standard library. Sources are parsed with `ast`, never imported, so no module
runs; files are visited in sorted order, so the corpus is the same on every run
of the same Python.
"""

from __future__ import annotations

import ast
import os
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydoc_data.topics import topics

from adaptlab.corpus.documents import Document
from adaptlab.corpus.prepare import PrepareSummary, prepare_documents

# Folders whose docstrings are tests, demos, vendored packages or generated tables.
_SKIP_DIRS = frozenset(
    {"test", "tests", "idlelib", "turtledemo", "site-packages", "dist-packages", "ensurepip", "encodings",
     "pydoc_data", "__pycache__"}
)
_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def general_english_documents() -> list[Document]:
    """Python's help topics (one document each), then one document per stdlib module."""
    docs = [
        Document(id=f"pydoc-topic:{name}", text=text, source="pydoc_data.topics")
        for name, text in sorted(topics.items())
    ]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in _stdlib_sources(stdlib):
        text = _module_docstrings(path)
        if text:
            rel = path.relative_to(stdlib)
            docs.append(Document(id=f"stdlib:{_module_name(rel)}", text=text, source=f"stdlib/{rel.as_posix()}"))
    return docs


def write_general_corpus(out_dir: Path, **prepare_kwargs: Any) -> PrepareSummary:
    """Prepare the general English corpus into out_dir (settings as `prepare_documents`)."""
    return prepare_documents(general_english_documents(), out_dir, **prepare_kwargs)


def _stdlib_sources(stdlib: Path) -> Iterator[Path]:
    """The stdlib's .py files in sorted order, minus skipped folders and test modules."""
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(("config-", ".")))
        for name in sorted(filenames):
            if name.endswith(".py") and not name.startswith("test_"):
                yield Path(dirpath) / name


def _module_name(rel: Path) -> str:
    """`json/decoder.py` -> `json.decoder`; a package's `__init__.py` is the package."""
    parts = rel.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_docstrings(path: Path) -> str:
    """The module docstring and its classes' and functions' docstrings, in source order."""
    try:
        with warnings.catch_warnings():  # invalid-escape warnings must not become errors under -W error
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return ""  # an unreadable or non-Python 3 file carries no usable docstrings
    return "\n\n".join(_docstrings(tree))


def _docstrings(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[str]:
    doc = ast.get_docstring(node)
    if doc:
        yield doc
    for child in node.body:
        if isinstance(child, _DEFINITIONS):
            yield from _docstrings(child)
