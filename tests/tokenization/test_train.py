"""Training, saving and loading tokenizers: round trips, specials, and errors a user can make."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from adaptlab.corpus.documents import write_jsonl
from adaptlab.errors import UserError
from adaptlab.tokenization.specials import DEFAULT_SPECIAL_TOKENS, SENTINEL_TOKENS
from adaptlab.tokenization.train import iter_corpus_texts, load_tokenizer, train_tokenizer

KINDS = ("bpe", "unigram", "char")


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_byte_level_bpe_round_trips_any_text(tokenizers_by_kind):
    tok = tokenizers_by_kind["bpe"]
    text = "Ünïcode café — 東京 🙂🚀\n\n\ttabs  and   spaces\r\nend ∑x² "
    ids = _ids(tok, text)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_bpe_learns_merges(tokenizers_by_kind):
    tok = tokenizers_by_kind["bpe"]
    assert len(tok) == 300
    assert len(_ids(tok, "the quick brown fox")) < len("the quick brown fox")


def test_unigram_round_trips_plain_text(tokenizers_by_kind):
    tok = tokenizers_by_kind["unigram"]
    text = "The council gathered at noon.\nA fox jumps over the dog."
    ids = _ids(tok, text)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text
    assert len(ids) < len(text)


def test_char_vocab_is_specials_then_distinct_chars(texts, tokenizers_by_kind):
    tok = tokenizers_by_kind["char"]
    chars = sorted(set("".join(texts)))
    assert len(tok) == len(DEFAULT_SPECIAL_TOKENS) + len(chars)
    assert tok.convert_ids_to_tokens(list(range(len(tok)))) == [*DEFAULT_SPECIAL_TOKENS, *chars]


def test_char_round_trips_seen_chars_and_maps_unseen_to_unk(tokenizers_by_kind):
    tok = tokenizers_by_kind["char"]
    text = "  The fox\n\nat noon.  \n"
    ids = _ids(tok, text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert _ids(tok, "a§b") == [tok.convert_tokens_to_ids("a"), tok.unk_token_id, tok.convert_tokens_to_ids("b")]


def test_char_vocab_size_is_an_upper_bound_keeping_frequent_chars():
    n_specials = len(DEFAULT_SPECIAL_TOKENS)
    tok = train_tokenizer(["aaaa bbb cc d\n"], "char", n_specials + 3, min_frequency=5)
    assert tok.convert_ids_to_tokens(list(range(n_specials, len(tok)))) == [" ", "a", "b"]
    assert _ids(tok, "ad")[1] == tok.unk_token_id
    # min_frequency does not drop a character seen once
    assert len(train_tokenizer(["xyz"], "char", 1000)) == n_specials + 3


@pytest.mark.parametrize("kind", KINDS)
def test_specials_have_the_lowest_ids_in_order_and_are_not_split(kind, tokenizers_by_kind):
    tok = tokenizers_by_kind[kind]
    assert tok.convert_tokens_to_ids(DEFAULT_SPECIAL_TOKENS) == list(range(len(DEFAULT_SPECIAL_TOKENS)))
    roles = (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.mask_token_id)
    assert roles == (0, 1, 2, 3, 4)
    assert tok.extra_special_tokens == SENTINEL_TOKENS
    ids = _ids(tok, "the<extra_id_7>fox</s>")
    assert tok.convert_tokens_to_ids("<extra_id_7>") in ids
    assert ids[-1] == tok.eos_token_id
    # no post-processor: encoding adds neither BOS nor EOS
    assert tok("the fox")["input_ids"] == _ids(tok, "the fox")


@pytest.mark.parametrize("kind", KINDS)
def test_saved_folder_loads_with_plain_autotokenizer(kind, tokenizers_by_kind):
    tok = tokenizers_by_kind[kind]
    folder = tok.name_or_path
    text = "The quick fox, at noon.\nLine 7<extra_id_0>"
    for loaded in (AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)):
        assert _ids(loaded, text) == _ids(tok, text)
        assert loaded.decode(_ids(loaded, text)) == tok.decode(_ids(tok, text))
        assert len(loaded) == len(tok)
        assert loaded.eos_token_id == tok.eos_token_id
        assert loaded.extra_special_tokens == SENTINEL_TOKENS


def test_iter_corpus_texts_reads_a_split(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"id": "1", "text": "alpha", "source": "a"}, {"id": "2", "text": "beta"}])
    assert list(iter_corpus_texts(tmp_path)) == ["alpha", "beta"]
    with pytest.raises(UserError, match="validation.jsonl"):
        list(iter_corpus_texts(tmp_path, "validation"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["text"], "wordpiece", 300), r"'wordpiece'.*bpe, unigram, char"),
        ((["text"], "bpe", 100), r"vocab_size 100 .*>= 277"),
        ((["text"], "char", 5), r"vocab_size 5 .*>= 22"),
        (([], "bpe", 300), "no text"),
        ((["", ""], "unigram", 300), "no text"),
    ],
)
def test_bad_input_is_a_user_error(args, message):
    with pytest.raises(UserError, match=message):
        train_tokenizer(*args, show_progress=False)


def test_a_negative_min_frequency_or_a_file_as_out_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="min_frequency -1: give 0 or more"):
        train_tokenizer(["text"], "bpe", 300, min_frequency=-1, show_progress=False)
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(UserError, match="notes.txt: is a file; give a folder"):
        train_tokenizer(["text"], "bpe", 300, taken, show_progress=False)
    assert taken.read_text() == "mine"


def test_unigram_vocab_below_its_alphabet_is_a_user_error(texts):
    with pytest.raises(UserError, match="vocab_size 25 is too small for unigram"):
        train_tokenizer(texts, "unigram", 25, show_progress=False)


def test_special_tokens_must_include_the_roles():
    with pytest.raises(UserError, match="<mask>"):
        train_tokenizer(["text"], "char", 100, special_tokens=["<pad>", "<unk>", "<s>", "</s>"])


def test_load_tokenizer_names_a_missing_folder_or_file(tmp_path):
    with pytest.raises(UserError, match="nowhere"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(UserError, match="tokenizer.json"):
        load_tokenizer(tmp_path)
