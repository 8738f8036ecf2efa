"""Domain tokens: mining, extending every kind of tokenizer, growing every model family, and the run it writes."""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import torch
from tokenizers import decoders, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from adaptlab.corpus.documents import write_jsonl
from adaptlab.corpus.prepare import prepare_corpus
from adaptlab.corpus.synth import synthesize
from adaptlab.errors import UserError
from adaptlab.models.presets import ModelConfig, SpecialIds, build_model
from adaptlab.models.resize import resize_for_new_tokens
from adaptlab.runs import MANIFEST, load_model
from adaptlab.tokenization.domain import REPORT_FILE, extend_model_and_tokenizer
from adaptlab.tokenization.extend import extend_tokenizer, mine_domain_terms, read_term_list, tokens_per_byte
from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

KINDS = ("bpe", "unigram", "char")
TERMS = ["Sholelquor", "MWZ-53", "CBL-76*2"]
# Each term at a text start, a line start, after a space, in brackets and before punctuation.
DOMAIN_TEXT = (
    "Sholelquor is given daily.\nSholelquor (MWZ-53) rules out CBL-76*2 carriers; see MWZ-53.\n"
    "Dosing:  Sholelquor, then MWZ-53 and CBL-76*2 again.\n(Sholelquor)"
)
N_OCCURRENCES = sum(DOMAIN_TEXT.count(t) for t in TERMS)
GENERAL_TEXT = "The council gathered before noon.\nA fox jumps over the lazy dog; the city (at last) slept."
TINY = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "max_seq_len": 64}


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def general() -> dict[str, PreTrainedTokenizerFast]:
    """General-English tokenizers of each kind (Python's help topics), as a base model would have."""
    texts = [text for _, text in sorted(topics.items())]
    return {
        "bpe": train_tokenizer(texts, "bpe", 2048, show_progress=False),
        "unigram": train_tokenizer(texts[:20], "unigram", 600, show_progress=False),  # Unigram trains slowly
        "char": train_tokenizer(texts, "char", 300, show_progress=False),
    }


@pytest.fixture(scope="module")
def extended(general) -> dict[str, tuple]:
    return {kind: extend_tokenizer(tok, TERMS) for kind, tok in general.items()}


# --- mining -------------------------------------------------------------------------------


def _facts(corpus_dir: Path) -> list[dict]:
    lines = (corpus_dir.parent / "synth" / "facts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_mining_finds_invented_names_and_ranks_by_tokens_saved(corpus_dir, general):
    bpe = general["bpe"]
    texts = list(iter_corpus_texts(corpus_dir))
    mined = mine_domain_terms(texts, bpe, max_terms=60)
    terms = {c.term for c in mined}
    facts = _facts(corpus_dir)
    compounds = {f["subject"] for f in facts if f["kind"].startswith("compound.")}
    genes = {f["subject"] for f in facts if f["kind"].startswith("gene.")}
    assert len(compounds & terms) >= len(compounds) // 2
    assert genes & terms  # "MWZ-53": the hyphen and digits stay in the term
    assert mined == sorted(mined, key=lambda c: (-c.saving, c.term))
    assert mined[0].saving > mined[-1].saving
    words = [w.strip(string.punctuation) for text in texts for w in text.split()]
    for c in mined:
        assert c.count == words.count(c.term) >= 3
        assert c.pieces == len(_ids(bpe, " " + c.term)) >= 3
        assert c.saving == c.count * (c.pieces - 1)
    assert "the" not in terms and len(mined) == 60


@pytest.mark.parametrize("bad", [{"min_pieces": 1}, {"max_terms": 0}, {"min_count": -1}])
def test_mining_rejects_bad_settings(general, bad):
    with pytest.raises(UserError):
        mine_domain_terms(["Sholelquor " * 5], general["bpe"], **bad)


# --- extending tokenizers -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_term_becomes_one_token_wherever_it_stands_and_text_round_trips(general, extended, kind):
    old, (new, added) = general[kind], extended[kind]
    ids = _ids(new, DOMAIN_TEXT)
    assert new.decode(ids) == DOMAIN_TEXT
    new_ids = {t.id for t in added}
    assert sorted(new_ids) == list(range(len(old), len(new)))
    found = [new.decode([i]).strip() for i in ids if i in new_ids]
    assert len(found) == N_OCCURRENCES and set(found) == set(TERMS)
    assert len(ids) < len(_ids(old, DOMAIN_TEXT)) - N_OCCURRENCES


@pytest.mark.parametrize("kind", KINDS)
def test_new_tokens_record_the_old_pieces_they_replace(general, extended, kind):
    old, (new, added) = general[kind], extended[kind]
    for t in added:
        assert len(t.pieces) > 1 and max(t.pieces) < len(old)
        assert old.decode(t.pieces).strip() == t.term
        assert new.convert_ids_to_tokens(t.id) == t.token


@pytest.mark.parametrize("kind", KINDS)
def test_text_without_terms_keeps_its_ids(general, extended, kind):
    general_text = topics["assignment"][:2000] + GENERAL_TEXT
    assert _ids(extended[kind][0], general_text) == _ids(general[kind], general_text)


@pytest.mark.parametrize("kind", KINDS)
def test_saved_tokenizer_reloads_with_plain_autotokenizer(extended, kind, tmp_path):
    new = extended[kind][0]
    new.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(reloaded) == len(new)
    assert _ids(reloaded, DOMAIN_TEXT) == _ids(new, DOMAIN_TEXT)


def test_extending_leaves_the_original_tokenizer_alone(general, extended):
    assert len(general["bpe"]) == 2048
    assert len(_ids(general["bpe"], "Sholelquor")) > 1


def test_accented_terms_round_trip_in_byte_level_bpe(general):
    new, added = extend_tokenizer(general["bpe"], ["Sjögren", "Ménière"])
    text = "Sjögren (Ménière) and Sjögren.\nMénière"
    assert new.decode(_ids(new, text)) == text
    assert {t.token for t in added} == {" Sjögren", " Ménière"}  # bare forms would decode garbled upstream


def test_terms_already_single_tokens_are_skipped(general):
    _, added = extend_tokenizer(general["bpe"], ["the", "Sholelquor", "Sholelquor"])
    assert {t.term for t in added} == {"Sholelquor"} and len(added) == 2  # " Sholelquor" and "Sholelquor"
    with pytest.raises(UserError, match="nothing to add"):
        extend_tokenizer(general["bpe"], ["the"])


def test_a_pre_tokenizer_that_adds_spaces_is_refused(general):
    backend = copy.deepcopy(general["bpe"].backend_tokenizer)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    with pytest.raises(UserError, match="rewrites text next to added tokens"):
        extend_tokenizer(PreTrainedTokenizerFast(tokenizer_object=backend), TERMS)


@pytest.mark.parametrize("terms", [[], ["two words"], [" padded"], ""])
def test_bad_term_lists_are_refused(general, terms):
    with pytest.raises(UserError):
        extend_tokenizer(general["bpe"], terms)


def test_term_list_file(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text("Sholelquor\n\n  MWZ-53  \nSholelquor\n")
    assert read_term_list(path) == ["Sholelquor", "MWZ-53"]
    path.write_text("\n  \n")
    with pytest.raises(UserError, match="empty"):
        read_term_list(path)
    with pytest.raises(UserError, match="no such terms file"):
        read_term_list(tmp_path / "missing.txt")


def test_tokens_per_byte(general):
    assert tokens_per_byte(["abc", "de"], general["char"]) == 1.0
    with pytest.raises(UserError):
        tokens_per_byte(["", ""], general["char"])


# --- growing models ----------------------------------------------------------------------------


def _logits(model, ids: list[int]) -> torch.Tensor:
    x = torch.tensor([ids])
    extra = {"decoder_input_ids": x} if model.config.is_encoder_decoder else {}
    with torch.no_grad():
        return model(input_ids=x, **extra).logits


FAMILIES = {"llama": ("decoder", False), "llama-tied": ("decoder", True), "bert": ("encoder", True),
            "t5": ("encoder-decoder", True)}


@pytest.fixture(scope="module", params=FAMILIES.values(), ids=FAMILIES.keys())
def grown(request, general, extended):
    """(model before, model after) for one family: a tiny random model grown for the bpe terms."""
    family, tie = request.param
    torch.manual_seed(0)
    cfg = ModelConfig(family=family, tie_embeddings=tie, **TINY)
    before = build_model(cfg, len(general["bpe"]), SpecialIds(0, 2, 3))
    out = before.get_output_embeddings()
    if out.bias is not None:  # BERT's output bias starts at zero; make it tell rows apart
        torch.nn.init.normal_(out.bias)
    before.eval()
    after = copy.deepcopy(before)
    new, added = extended["bpe"]
    resize_for_new_tokens(after, len(new), {t.id: t.pieces for t in added})
    return before, after


def test_new_rows_are_the_mean_of_their_pieces_and_old_rows_stay(grown, extended):
    before, after = grown
    new, added = extended["bpe"]
    n_old = before.config.vocab_size
    assert after.config.vocab_size == len(new)
    pairs = [(before.get_input_embeddings().weight, after.get_input_embeddings().weight),
             (before.get_output_embeddings().weight, after.get_output_embeddings().weight)]
    if before.get_output_embeddings().bias is not None:
        pairs.append((before.get_output_embeddings().bias, after.get_output_embeddings().bias))
    for old, grown_rows in pairs:
        assert grown_rows.shape[0] == len(new)
        assert torch.equal(grown_rows[:n_old], old)
        for t in added:
            torch.testing.assert_close(grown_rows[t.id], old[t.pieces].mean(dim=0))


def test_text_without_new_terms_scores_as_before(grown, general):
    before, after = grown
    ids = _ids(general["bpe"], GENERAL_TEXT)[:40]
    torch.testing.assert_close(_logits(after, ids)[..., : before.config.vocab_size], _logits(before, ids))


def test_grown_model_reloads_with_plain_transformers(grown, extended, tmp_path):
    _, after = grown
    after.save_pretrained(tmp_path)
    reloaded = type(after).from_pretrained(tmp_path).eval()
    ids = _ids(extended["bpe"][0], DOMAIN_TEXT)[:40]
    assert torch.equal(_logits(reloaded, ids), _logits(after, ids))


# --- the run `adaptlab tokenizer extend` writes ---------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_extension(general, tmp_path_factory):
    """A tiny decoder with the general BPE tokenizer, extended on the default synthetic domain."""
    root = tmp_path_factory.mktemp("extend")
    synthesize(root / "synth", seed=0)
    prepare_corpus([root / "synth" / "docs"], root / "corpus", validation_fraction=0.2)
    tokenizer = general["bpe"]
    model = build_model(ModelConfig(**TINY), len(tokenizer), SpecialIds(0, 2, 3))
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    report = extend_model_and_tokenizer(root / "base", root / "ext", corpus_dir=root / "corpus")
    return root, report


def test_domain_tokens_cut_tokens_per_byte_by_a_fifth(synthetic_extension):
    _, report = synthetic_extension
    print("\n".join(report.lines()))
    assert "validation" in report.measured_on
    assert report.reduction >= 0.20
    before, after = report.tokens_per_byte
    assert report.reduction == pytest.approx(1 - after / before)


def test_extension_run_loads_with_plain_transformers(synthetic_extension):
    root, report = synthetic_extension
    base = AutoModelForCausalLM.from_pretrained(root / "base")
    model = AutoModelForCausalLM.from_pretrained(root / "ext" / "model")
    tokenizer = AutoTokenizer.from_pretrained(root / "ext" / "model")
    assert len(tokenizer) == model.config.vocab_size == report.vocab_after
    assert json.loads((root / "ext" / REPORT_FILE).read_text()) == json.loads(json.dumps(report.to_dict()))
    assert load_model(root / "ext").family == "decoder"
    name = report.terms[0]
    assert tokenizer.convert_ids_to_tokens(_ids(tokenizer, f"{name} and {name}")) == [name, "Ġand", " " + name]
    for t in report.new_tokens[:20]:
        torch.testing.assert_close(model.lm_head.weight[t.id], base.lm_head.weight[t.pieces].mean(dim=0))


def test_trained_run_extended_from_its_corpus_keeps_general_scores(decoder_run, corpus_dir, tmp_path):
    report = extend_model_and_tokenizer(decoder_run, tmp_path / "ext", corpus_dir=corpus_dir)
    before, after = load_model(decoder_run), load_model(tmp_path / "ext")
    text = " ".join(w for w in GENERAL_TEXT.split(" ") if not any(term in w for term in report.terms))
    ids = _ids(before.tokenizer, text)
    assert _ids(after.tokenizer, text) == ids and len(ids) > 30
    n_old = report.vocab_before
    torch.testing.assert_close(_logits(after.model, ids[:30])[..., :n_old], _logits(before.model, ids[:30]))
    assert report.reduction > 0


def test_user_term_list_and_rerun_over_an_earlier_extension(decoder_run, tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("Sholelquor\nCBL-76*2\n")
    out = tmp_path / "ext"
    extend_model_and_tokenizer(decoder_run, out, terms_file=terms)
    terms.write_text("MWZ-53\n")
    report = extend_model_and_tokenizer(decoder_run, out, terms_file=terms)
    assert report.terms == ["MWZ-53"] and report.source == str(terms) and report.tokens_per_byte is None
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    tokens = tokenizer.convert_ids_to_tokens(_ids(tokenizer, "MWZ-53 or MWZ-53"))
    assert (tokens[0], tokens[-1]) == ("MWZ-53", " MWZ-53") and "CBL-76*2" not in tokenizer.get_vocab()
    assert json.loads((out / REPORT_FILE).read_text())["terms"] == ["MWZ-53"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_sources_and_outputs_are_refused(decoder_run, tmp_path):
    corpus = tmp_path / "corpus"
    for split in ("train", "validation"):
        write_jsonl(corpus / f"{split}.jsonl", [{"id": str(i), "text": "a b c d " * 20} for i in range(3)])
    with pytest.raises(UserError, match="nothing to mine"):
        extend_model_and_tokenizer(decoder_run, tmp_path / "ext", corpus_dir=corpus)
    with pytest.raises(UserError, match="no terms source"):
        extend_model_and_tokenizer(decoder_run, tmp_path / "ext")
    with pytest.raises(UserError, match="no such terms file"):
        extend_model_and_tokenizer(decoder_run, tmp_path / "ext", terms_file=tmp_path / "missing.txt")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    manifest = {"kind": "peft", "family": "decoder", "model": "adapter", "base": str(decoder_run)}
    (adapter / MANIFEST).write_text(json.dumps(manifest))  # JSON is YAML
    with pytest.raises(UserError, match="adapter run"):
        extend_model_and_tokenizer(adapter, tmp_path / "ext", corpus_dir=corpus)
    assert not (tmp_path / "ext").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no extension run"):
        extend_model_and_tokenizer(decoder_run, taken, corpus_dir=corpus)
    assert (taken / "notes.txt").read_text() == "mine"
