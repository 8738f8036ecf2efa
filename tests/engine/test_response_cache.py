"""Response cache: hits on the normalised prompt, misses on other settings or models, expiry
on an injected clock, the size cap, persistence across reopening, sampled requests left
alone unless asked, and one-line errors for bad paths."""

from __future__ import annotations

import pytest

from adaptlab.engine.requests import Generation, GenerationSettings
from adaptlab.engine.response_cache import ResponseCache
from adaptlab.errors import UserError

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0)
ANSWER = Generation(" forty-two", [7, 8, 9])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path, clock):
    with ResponseCache(tmp_path / "responses.sqlite", ttl_seconds=60, max_entries=3, clock=clock) as c:
        yield c


def test_hit_on_the_same_prompt_only(cache):
    """Whitespace changes the tokens a model is given, and so its answer: no hit across it."""
    assert cache.get("What is  the answer?", "base", GREEDY) is None
    cache.put("What is  the answer?", "base", GREEDY, ANSWER)
    assert cache.get("What is  the answer?", "base", GREEDY) == ANSWER
    for variant in ("What is the answer?", "What is  the answer? ", "What is\n the answer?"):
        assert cache.get(variant, "base", GREEDY) is None
    assert (cache.hits, cache.misses) == (1, 4)


def test_miss_on_other_settings_or_model_but_not_on_settings_that_cannot_matter(cache):
    cache.put("q", "base", GREEDY, ANSWER)
    assert cache.get("q", "base", GREEDY.model_copy(update={"max_new_tokens": 9})) is None
    assert cache.get("q", "base", GREEDY.model_copy(update={"stop": ["\n"]})) is None
    assert cache.get("q", "lora", GREEDY) is None
    assert cache.get("q", "base", GREEDY.model_copy(update={"use_cache": False, "seed": 5})) == ANSWER


def test_entries_expire_after_the_time_to_live(cache, clock):
    cache.put("q", "base", GREEDY, ANSWER)
    clock.now += 59
    assert cache.get("q", "base", GREEDY) == ANSWER
    clock.now += 1
    assert cache.get("q", "base", GREEDY) is None
    assert len(cache) == 0


def test_the_cap_evicts_the_oldest(cache, clock):
    for i in range(4):
        cache.put(f"q{i}", "base", GREEDY, Generation(str(i), [i]))
        clock.now += 1
    assert len(cache) == 3
    assert cache.get("q0", "base", GREEDY) is None
    assert [cache.get(f"q{i}", "base", GREEDY).text for i in (1, 2, 3)] == ["1", "2", "3"]


def test_entries_persist_across_reopening(tmp_path, clock):
    path = tmp_path / "responses.sqlite"
    with ResponseCache(path, clock=clock) as first:
        first.put("q", "base", GREEDY, ANSWER)
    with ResponseCache(path, clock=clock) as second:
        assert second.get("q", "base", GREEDY) == ANSWER


def test_sampled_requests_are_not_cached_unless_asked(tmp_path, clock):
    sampled = GenerationSettings(max_new_tokens=8, temperature=0.8, seed=1)
    calls = []

    def produce() -> Generation:
        calls.append(1)
        return Generation(f"draw {len(calls)}", [len(calls)])

    with ResponseCache(tmp_path / "a.sqlite", clock=clock) as default:
        assert [default.get_or_generate("q", "base", sampled, produce)[1] for _ in range(2)] == [False, False]
        assert len(default) == 0
    with ResponseCache(tmp_path / "b.sqlite", cache_sampled=True, clock=clock) as asked:
        first, hit_first = asked.get_or_generate("q", "base", sampled, produce)
        second, hit_second = asked.get_or_generate("q", "base", sampled, produce)
        assert (hit_first, hit_second) == (False, True) and first == second
    assert len(calls) == 3


def test_a_path_in_a_missing_folder_is_a_clear_error(tmp_path):
    path = tmp_path / "nowhere" / "responses.sqlite"
    with pytest.raises(UserError, match=f"{path}: folder .*nowhere does not exist"):
        ResponseCache(path)


def test_a_corrupt_database_file_is_a_clear_error(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_bytes(b"this is not sqlite at all\n" * 200)
    with pytest.raises(UserError, match=f"{path}: not a usable response cache database") as info:
        ResponseCache(path)
    assert "\n" not in str(info.value)


def test_another_sqlite_file_is_a_clear_error(tmp_path):
    import sqlite3

    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE responses (id INTEGER, body TEXT)")
    with pytest.raises(UserError, match="not a response cache"):
        ResponseCache(path)
