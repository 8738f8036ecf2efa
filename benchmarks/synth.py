"""How long the synthetic domain takes to build and write, at the default size and at larger ones.

Printed per size: seconds for `generate` (planning, rendering, the locality check, splits) and for
`synthesize` (the same plus writing the files), and microseconds per compound, so growth that is
worse than linear in `--compounds` shows as a rising per-compound cost in one run.

Usage: .venv/bin/python benchmarks/synth.py [--size 80 --size 200 --size 400] [--repeats 3]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer

from adaptlab.corpus.synth import generate, synthesize


def best_seconds(work, repeats: int) -> float:
    """The fastest of `repeats` runs: the least disturbed by other work on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main(size: list[int] = typer.Option([80, 200, 400], help="compounds per domain (80 is the default, 400 the most)"),
         repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for n in size:
            built = best_seconds(lambda: generate(n_compounds=n), repeats)
            written = best_seconds(lambda: synthesize(Path(scratch) / f"domain-{n}", n_compounds=n), repeats)
            print(f"{n} compounds: generate {built:.3f} s, synthesize {written:.3f} s "
                  f"({written / n * 1e6:,.0f} us per compound)")


if __name__ == "__main__":
    typer.run(main)
