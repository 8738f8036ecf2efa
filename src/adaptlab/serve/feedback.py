"""Served completions and users' ratings of them, in SQLite: the raw material of later
preference tuning (a rating labels an answer good or bad; a preferred answer beside the
served one makes a chosen/rejected pair for the same request).

Every completion the server returns is recorded (id, model, request, text, usage), so
feedback can only name a completion that was really served. The store is bounded: one
rating per completion (a later one replaces it), and completions, with their ratings, are
kept for `keep_days` and at most `max_rows` of them, the oldest going first. Prompts and
answers are users' text: kept no longer than that, and not at all under --no-record.
One short-lived connection per call: calls come from worker threads, and WAL lets readers
in while one writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from adaptlab.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    request TEXT NOT NULL,          -- JSON: {"prompt": ...} or {"messages": [...]}
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT              -- stop, length, or NULL when cut short (timeout, client gone, shutdown)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    completion_id TEXT NOT NULL REFERENCES completions(id),
    created REAL NOT NULL,
    rating INTEGER NOT NULL,        -- 1 good, 0 neutral, -1 bad
    preferred TEXT                  -- the answer that should have been given, if the user wrote one
);
CREATE INDEX IF NOT EXISTS completions_created ON completions (created);
-- Databases from before ratings were one per completion keep the latest of each.
DELETE FROM feedback WHERE id NOT IN (SELECT MAX(id) FROM feedback GROUP BY completion_id);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_one_per_completion ON feedback (completion_id);
"""

# Completions past the age or the row cap (rowids grow with time: the newest max_rows are the highest).
_EXPIRED = "SELECT id FROM completions WHERE created < ? OR rowid <= (SELECT MAX(rowid) FROM completions) - ?"


class FeedbackStore:
    def __init__(self, path: Path, *, keep_days: float = 30.0, max_rows: int = 100_000,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.keep_seconds = keep_days * 86400
        self.max_rows = max_rows
        self.clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"{self.path}: cannot open the feedback database ({exc})") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def record(self, completion_id: str, model: str, request: dict[str, Any], response: str, prompt_tokens: int,
               completion_tokens: int, finish_reason: str | None) -> None:
        """Store a served completion, and drop those past the age or row cap with their ratings."""
        now = self.clock()
        with self._connect() as db:
            db.execute("INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (completion_id, model, now, json.dumps(request), response, prompt_tokens,
                        completion_tokens, finish_reason))
            expired = (now - self.keep_seconds, self.max_rows)
            db.execute(f"DELETE FROM feedback WHERE completion_id IN ({_EXPIRED})", expired)
            db.execute(f"DELETE FROM completions WHERE id IN ({_EXPIRED})", expired)

    def add_feedback(self, completion_id: str, rating: int, preferred: str | None) -> int | None:
        """The completion's feedback row id (a later rating of the same completion replaces the earlier
        one in the same row), or None when no completion with that id is kept here."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM completions WHERE id = ?", (completion_id,)).fetchone() is None:
                return None
            return db.execute("INSERT INTO feedback (completion_id, created, rating, preferred) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (completion_id) DO UPDATE SET created = excluded.created, "
                              "rating = excluded.rating, preferred = excluded.preferred RETURNING id",
                              (completion_id, self.clock(), rating, preferred)).fetchone()[0]
