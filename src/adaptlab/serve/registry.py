"""The models a server offers, by name, from the folders named on the command line.

- `RUN` or `NAME=RUN`: a run folder or a local Hugging Face checkpoint folder; clients ask
  for NAME (default: the folder's name). An adapter run (peft or bottleneck) loads over
  its base, so each adapter is a model name of its own.
- `--rag NAME=INDEX:READER`: retrieval-augmented generation over an index folder (from
  `adaptlab rag index`), read by READER: the name of a served model, or a run folder.
- `--prefix-cache-mb N`, `--draft RUN`: how the models decode (`adaptlab.serve.decoding`).

Every folder is checked before any model loads, so a typo fails in a second, not after
minutes of loading.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from adaptlab.errors import UserError
from adaptlab.serve.models import ServedModel

if TYPE_CHECKING:
    from adaptlab.serve.decoding import Draft

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
INDEX_MANIFEST = "manifest.json"  # adaptlab.retrieval.index.MANIFEST, without importing faiss to check a path


@dataclass(frozen=True)
class RunSpec:
    name: str
    path: Path


@dataclass(frozen=True)
class RagSpec:
    name: str
    index: Path
    reader: str


def _checked_name(name: str, spec: str) -> str:
    if not NAME.fullmatch(name):
        raise UserError(f"{spec!r}: model name {name!r} must be letters, digits, '.', '_' or '-' "
                        "(name it with NAME=RUN)")
    return name


def parse_run(spec: str) -> RunSpec:
    """`NAME=RUN`, or `RUN` named after its folder."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).resolve().name, spec
    return RunSpec(_checked_name(name, spec), Path(path))


def parse_rag(spec: str) -> RagSpec:
    """`NAME=INDEX:READER`."""
    name, _, rest = spec.partition("=")
    index, _, reader = rest.rpartition(":")
    if not (name and index and reader):
        raise UserError(f"--rag {spec!r}: expected NAME=INDEX:READER (an index folder and a reader: a served "
                        "model's name or a run folder)")
    return RagSpec(_checked_name(name, spec), Path(index), reader)


def load_models(runs: Sequence[str], rags: Sequence[str] = (), *, prefix_cache_mb: int = 0,
                draft: Path | None = None) -> dict[str, ServedModel]:
    """Every named model, loaded, decoding as `prefix_cache_mb` (0: no prefix cache) and `draft` say;
    one line of error for the first bad name, folder or flag."""
    from adaptlab.lm import HFCausalLM
    from adaptlab.runs import resolve_model_dir
    from adaptlab.serve.decoding import Decodings
    from adaptlab.serve.models import HFModel, RagModel

    run_specs = [parse_run(s) for s in runs]
    rag_specs = [parse_rag(s) for s in rags]
    names = [s.name for s in [*run_specs, *rag_specs]]
    if not names:
        raise UserError("name at least one model to serve: RUN, NAME=RUN or --rag NAME=INDEX:READER")
    repeated = [n for n, count in Counter(names).items() if count > 1]
    if repeated:
        raise UserError(f"model name {repeated[0]!r} is given twice; name each with NAME=RUN")
    for spec in run_specs:
        resolve_model_dir(spec.path)
    for rag in rag_specs:
        if not (rag.index / INDEX_MANIFEST).is_file():
            raise UserError(f"--rag {rag.name}: no index at {rag.index}; build one with `adaptlab rag index`")
        if rag.reader not in {s.name for s in run_specs}:
            resolve_model_dir(Path(rag.reader))
    if prefix_cache_mb < 0:
        raise UserError(f"--prefix-cache-mb {prefix_cache_mb}: give megabytes of KV per model, or 0 for no cache")
    if draft is not None:
        resolve_model_dir(draft)
    decodings = Decodings(prefix_cache_mb * 2**20, load_draft(draft) if draft is not None else None)
    lms = {spec.name: HFCausalLM.from_path(spec.path) for spec in run_specs}
    served: dict[str, ServedModel] = {name: HFModel(lm, decodings.for_model(name, lm)) for name, lm in lms.items()}
    if rag_specs:
        from adaptlab.retrieval.rag import RagLM
        from adaptlab.retrieval.search import open_searcher

        for rag in rag_specs:
            reader = lms.get(rag.reader) or HFCausalLM.from_path(Path(rag.reader))
            served[rag.name] = RagModel(RagLM(reader, open_searcher(rag.index)), decodings.for_reader(rag.name, reader))
    return served


def load_draft(path: Path) -> Draft:
    """The --draft model, which must be a decoder."""
    from adaptlab.lm import HFCausalLM
    from adaptlab.serve.decoding import Draft

    try:
        return Draft(path, HFCausalLM.from_path(path))
    except UserError as exc:
        raise UserError(f"--draft {path}: {exc}") from None
