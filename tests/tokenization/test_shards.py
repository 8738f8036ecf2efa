"""Token shards: what is written equals a direct encoding, and a failed run changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from adaptlab.corpus.documents import write_jsonl
from adaptlab.errors import UserError
from adaptlab.tokenization import shards
from adaptlab.tokenization.shards import encode_corpus, encode_text_to_array, load_split, read_meta
from adaptlab.tokenization.train import train_tokenizer

SPLIT_TEXTS = {
    "train": ["The fox jumps.\nOver the dog.", "Café at noon — déjà vu.", "A", "Line 3 of the council."],
    "validation": ["The dog sleeps.", "Noon café."],
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    for split, texts in SPLIT_TEXTS.items():
        records = [{"id": f"{split}{i}", "text": t, "source": "x"} for i, t in enumerate(texts)]
        write_jsonl(folder / f"{split}.jsonl", records)
    return folder


@pytest.fixture
def bpe(tokenizers_by_kind):
    return tokenizers_by_kind["bpe"]


def _expected_stream(texts, tok) -> list[int]:
    out: list[int] = []
    for text in texts:
        out += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return out


def _read(shard_dir, split) -> list[int]:
    return [int(i) for m in load_split(shard_dir, split) for i in m]


def test_shards_hold_each_document_then_eos_and_meta_counts_match(corpus, bpe, tmp_path):
    out = tmp_path / "shards"
    meta = encode_corpus(corpus, bpe, out, progress=False)
    assert read_meta(out) == meta
    assert meta["dtype"] == "uint16"
    assert (meta["vocab_size"], meta["eos_token_id"], meta["tokenizer"]) == (len(bpe), 3, bpe.name_or_path)
    for split, texts in SPLIT_TEXTS.items():
        expected = _expected_stream(texts, bpe)
        info = meta["splits"][split]
        assert _read(out, split) == expected
        assert info["tokens"] == len(expected)
        assert info["documents"] == len(texts)
        assert info["bytes"] == sum(len(t.encode("utf-8")) for t in texts)
        assert info["shards"] == [f"{split}_000.bin"]
        assert (out / f"{split}_000.bin").stat().st_size == 2 * len(expected)


def test_small_shards_split_the_stream_in_order(corpus, bpe, tmp_path):
    out = tmp_path / "shards"
    meta = encode_corpus(corpus, bpe, out, shard_tokens=7, batch_size=2, progress=False)
    maps = load_split(out, "train")
    expected = _expected_stream(SPLIT_TEXTS["train"], bpe)
    assert meta["splits"]["train"]["shards"] == [f"train_{k:03d}.bin" for k in range(len(maps))]
    assert [len(m) for m in maps[:-1]] == [7] * (len(maps) - 1)
    assert 0 < len(maps[-1]) <= 7
    assert [int(i) for m in maps for i in m] == expected
    assert all(not m.flags.writeable for m in maps)


def test_large_vocab_uses_uint32(tmp_path):
    alphabet = "".join(chr(0x20000 + i) for i in range(65600))
    tok = train_tokenizer([alphabet], "char", 100_000)
    assert len(tok) > 65535
    folder = tmp_path / "corpus"
    write_jsonl(folder / "train.jsonl", [{"id": "a", "text": alphabet[-3:]}])
    write_jsonl(folder / "validation.jsonl", [{"id": "b", "text": alphabet[:2]}])
    meta = encode_corpus(folder, tok, tmp_path / "shards", progress=False)
    assert meta["dtype"] == "uint32"
    assert _read(tmp_path / "shards", "train") == [len(tok) - 3, len(tok) - 2, len(tok) - 1, tok.eos_token_id]
    assert load_split(tmp_path / "shards", "train")[0].dtype == np.dtype("<u4")
    assert encode_text_to_array(alphabet[-1:], tok).dtype == np.uint32


def test_encode_text_to_array_matches_the_tokenizer(bpe):
    text = "The fox jumps.\nCafé 🙂"
    arr = encode_text_to_array(text, bpe)
    assert arr.dtype == np.uint16
    assert arr.tolist() == bpe(text, add_special_tokens=False)["input_ids"]


def test_empty_split_has_no_shards(corpus, bpe, tmp_path):
    write_jsonl(corpus / "validation.jsonl", [])
    meta = encode_corpus(corpus, bpe, tmp_path / "shards", progress=False)
    assert meta["splits"]["validation"] == {"shards": [], "tokens": 0, "bytes": 0, "documents": 0}
    assert load_split(tmp_path / "shards", "validation") == []


def test_reencoding_replaces_the_old_set_and_leaves_no_temp_files(corpus, bpe, tmp_path):
    out = tmp_path / "shards"
    encode_corpus(corpus, bpe, out, shard_tokens=5, progress=False)
    encode_corpus(corpus, bpe, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "train_000.bin", "validation_000.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "shards"]


def test_a_crash_mid_encode_keeps_the_previous_set(corpus, bpe, tmp_path, monkeypatch):
    out = tmp_path / "shards"
    before = encode_corpus(corpus, bpe, out, progress=False)

    def crash(self, ids):
        raise RuntimeError("killed")

    monkeypatch.setattr(shards._ShardWriter, "write", crash)
    with pytest.raises(RuntimeError):
        encode_corpus(corpus, bpe, out, shard_tokens=3, progress=False)
    assert read_meta(out) == before
    assert _read(out, "train") == _expected_stream(SPLIT_TEXTS["train"], bpe)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "shards"]


def test_refuses_to_replace_a_folder_that_is_not_a_shard_set(corpus, bpe, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="mine"):
        encode_corpus(corpus, bpe, tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_missing_split_folder_or_corpus_is_a_user_error(corpus, bpe, tmp_path):
    out = tmp_path / "shards"
    encode_corpus(corpus, bpe, out, progress=False)
    with pytest.raises(UserError, match=r"'test'.*train, validation"):
        load_split(out, "test")
    with pytest.raises(UserError, match="nowhere"):
        load_split(tmp_path / "nowhere", "train")
    with pytest.raises(UserError, match="not a prepared corpus"):
        encode_corpus(tmp_path / "no-corpus", bpe, out, progress=False)


def test_progress_bar_reports_documents_and_tokens(corpus, bpe, tmp_path, capsys):
    encode_corpus(corpus, bpe, tmp_path / "shards", progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "tokens" in err
