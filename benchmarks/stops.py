"""The cost of matching stop strings per streamed token: `engine.stops.StopScanner` (reads only
the text each token adds) against the check it replaced (search the whole text for each stop
string, and try every prefix of every stop string against the text's end, at every token).

A 400-token answer of ~4 characters a token is fed one token at a time, with no stop string
ever completing (the worst case: the check runs to the end). Printed: microseconds per token,
and their ratio, for the server's limits (4 stop strings of 256 characters) and for the
500,000-character stop string the server used to accept.

Usage: .venv/bin/python benchmarks/stops.py [--tokens 400]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import typer

from adaptlab.engine.stops import StopScanner


def replaced_check(text: str, stops: Sequence[str]) -> tuple[int, int]:
    """The former per-token check: first stop by `find` over the whole text, and the longest end of the
    text that begins a stop string, by slicing every prefix."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    partial = max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
    return cut, partial


def per_token_us(check: Callable[[str], object], pieces: list[str]) -> float:
    text = ""
    start = time.perf_counter()
    for piece in pieces:
        text += piece
        check(text)
    return (time.perf_counter() - start) / len(pieces) * 1e6


def main(tokens: int = 400) -> None:
    pieces = [f" w{n % 97:02d}" for n in range(tokens)]  # ~4 characters a token, never a stop string
    cases = {"4 stop strings of 256 characters (the limits)": ["ab" * 128, "cd" * 128, "<|user|>" * 32, "z" * 256],
             "1 stop string of 500,000 characters": ["ab" * 250_000]}
    for name, stops in cases.items():
        scanner = StopScanner(stops)  # its tables are built once per request, outside the per-token cost
        new = per_token_us(lambda text: (scanner.advance(text, len(text)), scanner.partial), pieces)
        timed = pieces if max(map(len, stops)) <= 10_000 else pieces[:4]  # the replaced check: ~1 s a token here
        old = per_token_us(lambda text: replaced_check(text, stops), timed)
        print(f"{name}: StopScanner {new:,.1f} us/token, the replaced check {old:,.1f} us/token "
              f"({old / new:,.0f}x)")

if __name__ == "__main__":
    typer.run(main)
