"""StopScanner against the plain definition (the first occurrence of any stop string in the text;
the longest end of the text that begins one), fed a text piece by piece as a stream feeds it."""

from __future__ import annotations

import random

from adaptlab.engine.stops import StopScanner
from adaptlab.engine.streaming import unfinished


def first_stop(text: str, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def partial(text: str, stops: list[str]) -> int:
    return max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)


def scan(text: str, stops: list[str], cuts: list[int]) -> tuple[int | None, list[int]]:
    """Where the scanner finds a stop when `text` arrives cut at `cuts`, and its `partial` after each piece."""
    scanner = StopScanner(stops)
    partials = []
    for end in [*cuts, len(text)]:
        found = scanner.advance(text[:end], end)
        if found is not None:
            return found, partials
        partials.append(scanner.partial)
    return None, partials


def test_it_agrees_with_the_definition_however_the_text_arrives():
    rng = random.Random(0)
    for _ in range(3000):
        stops = ["".join(rng.choices("ab", k=rng.randint(1, 5))) for _ in range(rng.randint(1, 4))]
        text = "".join(rng.choices("abc", k=rng.randint(0, 30)))
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text), rng.randint(0, 8))))
        found, partials = scan(text, stops, cuts)
        ends = [*cuts, len(text)]
        first_end = next((end for end in ends if first_stop(text[:end], stops) is not None), None)
        assert found == (None if first_end is None else first_stop(text[:first_end], stops)), (text, stops, cuts)
        assert partials == [partial(text[:end], stops) for end in ends[:len(partials)]], (text, stops, cuts)


def test_a_stop_string_split_across_pieces_is_found_where_it_starts():
    scanner = StopScanner(["<|user|>", "", "\n\n"])
    assert scanner.advance("The answer<|us", 14) is None and scanner.partial == 4
    assert scanner.advance("The answer<|user|> next", 23) == 10


def test_only_the_added_text_is_read():
    """Each call reads the characters past the last one it read: text that was already read is not
    read again, which is what makes the cost linear in the text added rather than in the whole text."""

    class Watched(str):
        read: list[tuple[int, int]] = []

        def __getitem__(self, key):
            if isinstance(key, slice):
                Watched.read.append((key.start or 0, len(self) if key.stop is None else key.stop))
            return str.__getitem__(self, key)

    scanner = StopScanner(["abcd" * 50])
    text = ""
    for piece in ["xy", "z" * 1000, "ab", "q"]:
        text += piece
        scanner.advance(Watched(text), len(text))
    assert Watched.read == [(0, 2), (2, 1002), (1002, 1004), (1004, 1005)]


def test_unfinished_counts_the_trailing_replacement_characters():
    assert unfinished("caf\ufffd") == 1 and unfinished("\ufffd\ufffd") == 2 and unfinished("café") == 0
