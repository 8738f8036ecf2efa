"""Answers already given, kept on disk: the same prompt, model and settings get the same
text back without running the model (what providers call prompt caching).

A hit needs an exact match of the request as the model sees it: the rendered prompt (a
chat's messages through the template), the model name, and the settings that can change
the output (defaults filled in; the sampling knobs dropped when greedy). The prompt is
not otherwise normalised: whitespace or a Unicode form changes the tokens, and so the
answer, and a cache must never return an answer the model would not have given. Sampled
generations are random by nature, so they are not cached unless asked for
(`cache_sampled`); a seeded one then repeats exactly.
Entries expire after a time-to-live, and past a cap the oldest go first. SQLite in WAL
mode lets several server processes read while one writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptlab.engine.requests import Generation, GenerationSettings
from adaptlab.errors import UserError

COLUMNS = ("key", "model", "text", "tokens", "created")


def _settings_key(settings: GenerationSettings) -> dict[str, Any]:
    """The settings that can change the output: the KV cache never does, nor, when greedy, the sampling knobs."""
    exclude = {"use_cache"} | ({"seed", "top_k", "top_p"} if settings.temperature == 0 else set())
    return settings.model_dump(mode="json", exclude=exclude)


def cache_key(prompt: str, model: str, settings: GenerationSettings) -> str:
    payload = {"prompt": prompt, "model": model, "settings": _settings_key(settings)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    """A persistent map from (prompt, model, settings) to a generation, with a TTL and a size cap."""

    def __init__(self, path: str | Path, *, ttl_seconds: float = 24 * 3600, max_entries: int = 10_000,
                 cache_sampled: bool = False, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UserError(f"{self.path}: folder {self.path.parent} does not exist; create it or choose another "
                            "path for the response cache")
        if ttl_seconds <= 0:
            raise UserError(f"response cache ttl_seconds {ttl_seconds}: give a positive number of seconds")
        if max_entries < 1:
            raise UserError(f"response cache max_entries {max_entries}: give a positive number")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.cache_sampled = cache_sampled
        self.clock = clock
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise UserError(f"{self.path}: cannot open the response cache ({exc})") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                       "text TEXT NOT NULL, tokens TEXT NOT NULL, created REAL NOT NULL)")
            columns = tuple(row[1] for row in db.execute("PRAGMA table_info(responses)"))
            if columns != COLUMNS:
                raise UserError(f"{self.path}: its responses table has columns {columns}, not a response cache's "
                                f"{COLUMNS}; choose another path")
            db.execute("CREATE INDEX IF NOT EXISTS responses_created ON responses (created)")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise UserError(f"{self.path}: not a usable response cache database ({exc}); delete it or choose "
                            "another path") from None
        except UserError:
            db.close()
            raise
        return db

    def applies(self, settings: GenerationSettings) -> bool:
        """Whether requests with these settings are cached: greedy always, sampled only if asked."""
        return settings.temperature == 0 or self.cache_sampled

    def get(self, prompt: str, model: str, settings: GenerationSettings) -> Generation | None:
        """The stored generation for this request, unless absent, expired or not cacheable."""
        if not self.applies(settings):
            return None
        key = cache_key(prompt, model, settings)
        with self._lock:
            row = self._db.execute("SELECT text, tokens, created FROM responses WHERE key = ?", (key,)).fetchone()
            if row is not None and self.clock() - row[2] >= self.ttl_seconds:
                self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
                row = None
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return Generation(row[0], json.loads(row[1]))

    def put(self, prompt: str, model: str, settings: GenerationSettings, generation: Generation) -> None:
        """Store a generation (if cacheable), dropping expired entries and the oldest beyond the cap."""
        if not self.applies(settings):
            return
        now = self.clock()
        row = (cache_key(prompt, model, settings), model, generation.text, json.dumps(generation.tokens), now)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", row)
            self._db.execute("DELETE FROM responses WHERE created <= ?", (now - self.ttl_seconds,))
            self._db.execute("DELETE FROM responses WHERE key IN (SELECT key FROM responses ORDER BY created DESC, "
                             "rowid DESC LIMIT -1 OFFSET ?)", (self.max_entries,))

    def get_or_generate(self, prompt: str, model: str, settings: GenerationSettings,
                        produce: Callable[[], Generation]) -> tuple[Generation, bool]:
        """The cached generation, or a fresh one from `produce` (then stored); and whether it was a hit."""
        cached = self.get(prompt, model, settings)
        if cached is not None:
            return cached, True
        fresh = produce()
        self.put(prompt, model, settings, fresh)
        return fresh, False

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
