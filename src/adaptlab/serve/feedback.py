"""Served completions and users' ratings of them, in SQLite: the raw material of later
preference tuning (a rating labels an answer good or bad; a preferred answer beside the
served one makes a chosen/rejected pair for the same request).

Every completion the server returns is recorded (id, model, request, text, usage), so
feedback can only name a completion that was really served. One short-lived connection
per call: calls come from worker threads, and WAL lets readers in while one writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
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
    finish_reason TEXT              -- stop, length, or NULL when cut short (timeout, client gone)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    completion_id TEXT NOT NULL REFERENCES completions(id),
    created REAL NOT NULL,
    rating INTEGER NOT NULL,        -- 1 good, 0 neutral, -1 bad
    preferred TEXT                  -- the answer that should have been given, if the user wrote one
);
"""


class FeedbackStore:
    def __init__(self, path: Path):
        self.path = Path(path)
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
        with self._connect() as db:
            db.execute("INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (completion_id, model, time.time(), json.dumps(request), response, prompt_tokens,
                        completion_tokens, finish_reason))

    def add_feedback(self, completion_id: str, rating: int, preferred: str | None) -> int | None:
        """The new feedback row's id, or None when no completion has that id."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM completions WHERE id = ?", (completion_id,)).fetchone() is None:
                return None
            cursor = db.execute("INSERT INTO feedback (completion_id, created, rating, preferred) VALUES (?, ?, ?, ?)",
                                (completion_id, time.time(), rating, preferred))
            return cursor.lastrowid
