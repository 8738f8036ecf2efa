"""The feedback store on a live server: one rating per completion (the latest kept), a strict
rating type, a bound on the preferred answer, completions kept within an age and a row cap
(with their ratings), a home in the user's data folder, and nothing kept under --no-record."""

from __future__ import annotations

import sqlite3
import sys

import httpx
import pytest

from adaptlab.serve.feedback import FeedbackStore
from adaptlab.serve.models import as_served
from adaptlab.serve.settings import ServeSettings

from context_helpers import cli_error


def served_completion(url: str) -> str:
    reply = httpx.post(f"{url}/v1/completions", json={"model": "tiny", "prompt": "Vorantide is", "max_tokens": 2})
    assert reply.status_code == 200
    return reply.json()["id"]


def rows(db, query: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, args).fetchall()


def test_a_later_rating_replaces_the_earlier_one(serve, tiny_lm, tmp_path):
    url = serve({"tiny": as_served(tiny_lm)})
    served = served_completion(url)
    first = httpx.post(f"{url}/v1/feedback", json={"id": served, "rating": 1}).json()
    for _ in range(3):
        again = httpx.post(f"{url}/v1/feedback", json={"id": served, "rating": -1, "preferred": "10 mg daily."}).json()
    assert again["id"] == first["id"] and again["rating"] == -1
    assert rows(tmp_path / "feedback.sqlite3", "SELECT completion_id, rating, preferred FROM feedback") == [
        (served, -1, "10 mg daily.")]


@pytest.mark.parametrize("rating", [True, "1", 1.0, 2, None])
def test_a_rating_is_an_integer_from_minus_one_to_one(serve, tiny_lm, tmp_path, rating):
    url = serve({"tiny": as_served(tiny_lm)})
    refused = httpx.post(f"{url}/v1/feedback", json={"id": served_completion(url), "rating": rating})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "rating"
    assert rows(tmp_path / "feedback.sqlite3", "SELECT * FROM feedback") == []


def test_a_preferred_answer_past_the_limit_is_400_and_not_stored(serve, tiny_lm, tmp_path):
    url = serve({"tiny": as_served(tiny_lm)}, max_feedback_chars=100)
    served = served_completion(url)
    refused = httpx.post(f"{url}/v1/feedback", json={"id": served, "rating": -1, "preferred": "x" * 101})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "preferred_too_long"
    assert "101 characters, over the server's limit of 100 (--max-feedback-chars)" in refused.json()["error"]["message"]
    assert httpx.post(f"{url}/v1/feedback", json={"id": served, "rating": -1, "preferred": "x" * 100}).status_code == 200
    assert rows(tmp_path / "feedback.sqlite3", "SELECT length(preferred) FROM feedback") == [(100,)]


def test_completions_past_the_row_cap_go_with_their_ratings(serve, tiny_lm, tmp_path):
    url = serve({"tiny": as_served(tiny_lm)}, record_max_rows=3)
    ids = [served_completion(url) for _ in range(3)]
    assert httpx.post(f"{url}/v1/feedback", json={"id": ids[0], "rating": 1}).status_code == 200
    ids.append(served_completion(url))
    db = tmp_path / "feedback.sqlite3"
    assert [r[0] for r in rows(db, "SELECT id FROM completions ORDER BY created")] == ids[1:]
    assert rows(db, "SELECT * FROM feedback") == []
    gone = httpx.post(f"{url}/v1/feedback", json={"id": ids[0], "rating": 1})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "completion_not_found"


def test_completions_past_their_age_go_with_their_ratings(tmp_path):
    clock = [0.0]
    store = FeedbackStore(tmp_path / "f.sqlite3", keep_days=30, clock=lambda: clock[0])
    store.record("old", "m", {"prompt": "p"}, "a", 1, 1, "stop")
    assert store.add_feedback("old", 1, None) is not None
    clock[0] = 29 * 86400
    store.record("recent", "m", {"prompt": "p"}, "a", 1, 1, "stop")
    assert store.add_feedback("old", -1, None) is not None  # 29 days: still kept
    clock[0] = 31 * 86400
    store.record("new", "m", {"prompt": "p"}, "a", 1, 1, "stop")
    assert [r[0] for r in rows(store.path, "SELECT id FROM completions ORDER BY created")] == ["recent", "new"]
    assert rows(store.path, "SELECT * FROM feedback") == [] and store.add_feedback("old", 1, None) is None


def test_a_database_from_before_keeps_the_latest_rating_of_each_completion(tmp_path):
    db = tmp_path / "f.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript("""
            CREATE TABLE completions (id TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL,
                request TEXT NOT NULL, response TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL, finish_reason TEXT);
            CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, completion_id TEXT NOT NULL
                REFERENCES completions(id), created REAL NOT NULL, rating INTEGER NOT NULL, preferred TEXT);
            INSERT INTO completions VALUES ('c', 'm', 1e12, '{}', 'a', 1, 1, 'stop');
            INSERT INTO feedback (completion_id, created, rating, preferred) VALUES ('c', 1, 1, NULL), ('c', 2, -1, 'b');
        """)
    store = FeedbackStore(db)
    assert rows(db, "SELECT rating, preferred FROM feedback") == [(-1, "b")]
    store.add_feedback("c", 0, None)
    assert rows(db, "SELECT rating FROM feedback") == [(0,)]


def test_no_record_keeps_nothing_and_takes_no_feedback(serve, tiny_lm, tmp_path):
    db = tmp_path / "kept" / "feedback.sqlite3"
    url = serve({"tiny": as_served(tiny_lm)}, record=False, feedback_db=db)
    served = served_completion(url)
    refused = httpx.post(f"{url}/v1/feedback", json={"id": served, "rating": 1})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "feedback_not_recorded"
    assert "--no-record" in refused.json()["error"]["message"]
    assert not db.parent.exists()


def test_the_database_lives_in_the_users_data_folder_and_is_said_at_start_up(model_dir, tmp_path, monkeypatch,
                                                                               capsys):
    import adaptlab.cli
    import adaptlab.serve.server

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert ServeSettings().feedback_db == tmp_path / "data" / "adaptlab" / "feedback.sqlite3"
    started = {}
    monkeypatch.setattr(adaptlab.serve.server, "run_server",
                        lambda models, settings, on_shutdown: started.update(settings=settings))
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"tiny={model_dir}", "--record-days", "7"])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code == 0
    assert started["settings"].feedback_db == tmp_path / "data" / "adaptlab" / "feedback.sqlite3"
    assert (f"recording served completions and feedback in {tmp_path}/data/adaptlab/feedback.sqlite3 (kept 7 days, "
            "100000 at most; --no-record to keep none)") in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", f"tiny={model_dir}", "--no-record"])
    with pytest.raises(SystemExit):
        adaptlab.cli.main()
    assert started["settings"].record is False
    assert "not recording served completions (--no-record)" in capsys.readouterr().out


def test_cli_refuses_a_cap_that_keeps_nothing(monkeypatch, capsys):
    import adaptlab.cli

    line = cli_error(adaptlab.cli.app, ["serve", "x=y", "--record-max-rows", "0"], monkeypatch, capsys)
    assert "record_max_rows" in line
