"""Stop strings found in a text as it grows, at a cost linear in the text added.

A stream decodes a few characters per token. Searching the whole text for every stop string
and trying every prefix of every stop string against its end, at every token, costs
O(text × stop length) per token; with a long stop string that is seconds per token. Here each
stop string is a Knuth–Morris–Pratt automaton fed only the characters added since the last
call: its state is the longest prefix of the stop string that the text ends with, so a
complete match and the part that may still become one both fall out of one pass.
"""

from __future__ import annotations

from collections.abc import Sequence


def _failure(pattern: str) -> list[int]:
    """KMP's table: for each prefix length n, the longest proper prefix of pattern[:n] that is also its suffix."""
    table = [0] * len(pattern)
    k = 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = table[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        table[i] = k
    return table


class StopScanner:
    """Follows one growing text. `advance(text, settled)` reads `text[:settled]` past what it has read
    before (that part must not change) and returns where the first stop string in it starts, if one
    is complete; `partial` is then how many characters at the end of `text[:settled]` could still
    begin one, so are not final yet. Empty stop strings are ignored."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self._tables = [_failure(s) for s in self.stops]
        self._states = [0] * len(self.stops)
        self._read = 0

    @property
    def partial(self) -> int:
        return max(self._states, default=0)

    def advance(self, text: str, settled: int) -> int | None:
        start = self._read
        added = text[start:settled]
        self._read = max(start, settled)
        found: int | None = None
        for n, (stop, table) in enumerate(zip(self.stops, self._tables)):
            state = self._states[n]
            for offset, char in enumerate(added):
                while state and stop[state] != char:
                    state = table[state - 1]
                if stop[state] == char:
                    state += 1
                if state == len(stop):  # the first occurrence of this stop string
                    begins = start + offset + 1 - len(stop)
                    found = begins if found is None else min(found, begins)
                    state = table[state - 1]
                    break
            self._states[n] = state
        return found
