"""Corpus preparation: reading, cleaning, dedup, splitting and writing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from adaptlab.corpus.clean import clean_text
from adaptlab.corpus.documents import Document, read_documents
from adaptlab.corpus.prepare import prepare_corpus, prepare_documents
from adaptlab.errors import UserError

WORDS = (
    "river stone market garden winter letter engine harbor window silver orange theory "
    "village signal forest museum ladder candle bridge planet mirror castle copper desert "
    "island jacket kettle lantern meadow needle pencil quarry ribbon saddle tunnel velvet "
    "wagon yellow anchor basket cactus dragon feather glacier hammer igloo jungle kitten"
).split()


def prose(seed: int, words: int = 200) -> str:
    """A distinct, long-enough text: no two seeds share word 5-grams in practice."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def ids(path: Path) -> list[str]:
    return [doc.id for doc in read_documents(path)]


def test_bad_files_are_skipped_and_named_while_good_files_are_kept(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "good.txt", prose(1))
    write(docs / "sub" / "notes.md", prose(2))
    write(docs / "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00" + prose(3).encode())
    write(docs / "latin1.txt", ("café " + prose(4)).encode("latin-1"))
    write(docs / "picture.png", b"\x89PNG")

    summary = prepare_corpus([docs], tmp_path / "out", validation_fraction=0)

    reasons = {skip.where: skip.reason for skip in summary.skipped}
    assert set(reasons) == {"docs/binary.txt", "docs/latin1.txt"}
    assert "binary" in reasons["docs/binary.txt"]
    assert "UTF-8" in reasons["docs/latin1.txt"]
    assert (summary.files_read, summary.files_ignored) == (2, 1)
    assert ids(tmp_path / "out" / "train.jsonl") == ["docs/good.txt", "docs/sub/notes.md"]
    printed = "\n".join(summary.lines())
    assert "docs/latin1.txt" in printed and "docs/binary.txt" in printed


def test_utf8_variants_decode_the_same(tmp_path: Path) -> None:
    write(tmp_path / "in" / "bom.txt", b"\xef\xbb\xbf" + ("Bom Café au lait. " + prose(5)).encode())
    write(tmp_path / "in" / "crlf.txt", ("Crlf Café au lait. " + prose(6)).replace(" ", "\r\n", 3).encode())

    prepare_corpus([tmp_path / "in"], tmp_path / "out", validation_fraction=0)

    texts = {doc.id: doc.text for doc in read_documents(tmp_path / "out" / "train.jsonl")}
    assert texts["in/bom.txt"].startswith("Bom Café au lait.")
    assert texts["in/crlf.txt"].startswith("Crlf\nCafé\nau\nlait.")


def test_empty_folder_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no readable documents.*empty"):
        prepare_corpus([tmp_path / "empty"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_input_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nowhere"):
        prepare_corpus([tmp_path / "nowhere"], tmp_path / "out")


def test_inputs_with_the_same_name_are_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a" / "docs" / "x.txt", prose(7))
    write(tmp_path / "b" / "docs" / "x.txt", prose(8))
    with pytest.raises(UserError, match="share the name 'docs'"):
        prepare_corpus([tmp_path / "a" / "docs", tmp_path / "b" / "docs"], tmp_path / "out")


def test_exact_and_near_duplicates_are_dropped_keeping_the_first(tmp_path: Path) -> None:
    original = prose(10)
    words = original.split()
    words[40], words[120] = "zeppelin", "quokka"
    write(tmp_path / "in" / "a.txt", original)
    write(tmp_path / "in" / "b.txt", original.replace(" ", " \t ") + "  \n\n")  # the same once cleaned
    write(tmp_path / "in" / "c.txt", " ".join(words))
    write(tmp_path / "in" / "d.txt", prose(11))

    summary = prepare_corpus([tmp_path / "in"], tmp_path / "out", validation_fraction=0)

    assert summary.dropped["exact_duplicate"] == 1
    assert summary.dropped["near_duplicate"] == 1
    assert ids(tmp_path / "out" / "train.jsonl") == ["in/a.txt", "in/d.txt"]


def test_too_short_documents_are_dropped(tmp_path: Path) -> None:
    write(tmp_path / "in" / "long.txt", prose(20))
    write(tmp_path / "in" / "short.txt", "Too short to teach anything.")

    summary = prepare_corpus([tmp_path / "in"], tmp_path / "out", min_chars=100)

    assert summary.dropped["too_short"] == 1
    assert sum(summary.documents.values()) == 1


def test_jsonl_reads_a_custom_field(tmp_path: Path) -> None:
    lines = [json.dumps({"body": prose(30)}), "", json.dumps({"body": prose(32) + "\u2028" + prose(33)})]
    write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")

    summary = prepare_corpus([tmp_path / "data.jsonl"], tmp_path / "out", text_field="body", validation_fraction=0)

    assert not summary.skipped
    assert ids(tmp_path / "out" / "train.jsonl") == ["data.jsonl:1", "data.jsonl:3"]


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"data.jsonl:2: not valid JSON \(Expecting property name"),
    (json.dumps({"text": prose(31)}), "data.jsonl:2: expected a JSON object with a string field 'body'"),
    ("[1, 2]", "data.jsonl:2: expected a JSON object with a string field 'body'"),
])
def test_a_malformed_jsonl_line_is_refused_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    write(tmp_path / "data.jsonl", json.dumps({"body": prose(30)}) + "\n" + line + "\n")
    with pytest.raises(UserError, match=message):
        prepare_corpus([tmp_path / "data.jsonl"], tmp_path / "out", text_field="body")
    assert not (tmp_path / "out").exists()


def test_split_is_deterministic_and_independent_of_input_order(tmp_path: Path) -> None:
    docs = [Document(id=f"doc-{i}", text=prose(100 + i, words=30)) for i in range(200)]

    prepare_documents(docs, tmp_path / "a", validation_fraction=0.25, min_chars=0)
    prepare_documents(reversed(docs), tmp_path / "b", validation_fraction=0.25, min_chars=0)
    prepare_documents(docs, tmp_path / "c", validation_fraction=0.25, min_chars=0, seed=1)

    for split in ("train.jsonl", "validation.jsonl"):
        assert (tmp_path / "a" / split).read_bytes() == (tmp_path / "b" / split).read_bytes()
    validation = set(ids(tmp_path / "a" / "validation.jsonl"))
    assert 25 <= len(validation) <= 75
    assert validation.isdisjoint(ids(tmp_path / "a" / "train.jsonl"))
    assert validation != set(ids(tmp_path / "c" / "validation.jsonl"))


def test_two_documents_give_one_validation_document(tmp_path: Path) -> None:
    docs = [Document(id="a", text=prose(40)), Document(id="b", text=prose(41))]
    summary = prepare_documents(docs, tmp_path / "out", validation_fraction=0.01)
    assert summary.documents == {"train": 1, "validation": 1}


def test_nothing_left_is_an_error_that_says_why_and_writes_nothing(tmp_path: Path) -> None:
    for name in "abc":
        write(tmp_path / "in" / f"{name}.txt", f"Short note {name}.")
    with pytest.raises(UserError, match=r"3 read, 3 dropped as too_short \(min_chars=200\)"):
        prepare_corpus([tmp_path / "in"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("setting", "value"),
    [("min_chars", -1), ("validation_fraction", 1.0), ("validation_fraction", -0.1), ("near_dup_threshold", 0.0),
     ("near_dup_threshold", 1.5)],
)
def test_bad_settings_name_the_parameter_and_range(tmp_path: Path, setting: str, value: float) -> None:
    write(tmp_path / "in" / "a.txt", prose(50))
    with pytest.raises(UserError, match=rf"{setting}=.*must be"):
        prepare_corpus([tmp_path / "in"], tmp_path / "out", **{setting: value})
    assert not (tmp_path / "out").exists()


def test_boilerplate_lines_are_removed_and_prose_kept() -> None:
    page = "\n".join([
        "Skip to main content",
        "Home | About | Contact",
        "We use cookies to improve your experience. Accept all cookies",
        "The harbor  froze\tover in winter,   ",
        "and the copyright on the old maps lapsed.",
        "",
        "",
        "",
        "Ｆｕｌｌ-width ﬁne print returns to normal.",
        "Page 3 of 12",
        "© 2024 Example Corp. All rights reserved.",
        "Name | Age | City",
        "Ada | Thirty six | London",
    ])
    assert clean_text(page) == (
        "The harbor froze over in winter,\n"
        "and the copyright on the old maps lapsed.\n"
        "\n"
        "Full-width fine print returns to normal.\n"
        "Name | Age | City\n"
        "Ada | Thirty six | London"
    )


def test_boilerplate_only_and_empty_documents_are_counted(tmp_path: Path) -> None:
    docs = [
        Document(id="page", text=prose(60)),
        Document(id="banner", text="Click here to subscribe\nBack to top\n"),
        Document(id="blank", text=" \n\t\n"),
    ]
    summary = prepare_documents(docs, tmp_path / "out")
    assert (summary.dropped["boilerplate_only"], summary.dropped["empty"]) == (1, 1)


def test_output_folder_inside_input_is_not_read_back(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.txt", prose(70))
    write(tmp_path / "in" / "b.txt", prose(71))
    first = prepare_corpus([tmp_path / "in"], tmp_path / "in" / "prepared")
    second = prepare_corpus([tmp_path / "in"], tmp_path / "in" / "prepared")
    assert first.to_dict() == second.to_dict()
    assert second.documents_in == 2


def test_summary_json_matches_the_returned_summary(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.txt", prose(80))
    summary = prepare_corpus([tmp_path / "in"], tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert saved == summary.to_dict()
    assert saved["bytes"]["train"] == len(clean_text(prose(80)).encode("utf-8"))


def test_threshold_one_drops_only_identical_word_sequences(tmp_path: Path) -> None:
    words = prose(90).split()
    docs = [
        Document(id="a", text=" ".join(words)),
        Document(id="b", text=" ".join(words).upper()),  # the same shingles: words are compared lower-cased
        Document(id="c", text=" ".join([*words[:100], "zeppelin", *words[101:]])),
    ]
    summary = prepare_documents(docs, tmp_path / "out", near_dup_threshold=1.0, validation_fraction=0)
    assert summary.dropped["near_duplicate"] == 1
    assert ids(tmp_path / "out" / "train.jsonl") == ["a", "c"]
