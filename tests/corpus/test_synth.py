"""The synthetic domain: reproducible, answers local to one document, clean splits, strict formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adaptlab.corpus import synth
from adaptlab.corpus.synth import PRACTICE_SEEDS, check_format, generate, practice_domains, synthesize
from adaptlab.corpus.synth_formats import field_values, make_spec, parse_record, render
from adaptlab.corpus.synth_templates import STATEMENTS
from adaptlab.errors import UserError

JSONL_FILES = ("facts", "qa_train", "qa_eval", "instructions_train", "instructions_eval")


def _load(out: Path) -> dict:
    """Everything synthesize wrote, read back from disk."""
    loaded = {"docs": {p.stem: p.read_text(encoding="utf-8") for p in sorted((out / "docs").glob("*.txt"))}}
    for name in JSONL_FILES:
        with open(out / f"{name}.jsonl", encoding="utf-8") as f:
            loaded[name] = [json.loads(line) for line in f]
    loaded["summary"] = json.loads((out / "synth.json").read_text(encoding="utf-8"))
    return loaded


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _written(out: Path, **kwargs) -> Path:
    synthesize(out, **kwargs)
    return out


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("synth") / "domain"
    summary = synthesize(out)
    return {"returned": summary, **_load(out)}


# --- reproducibility ---------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path):
    synthesize(tmp_path / "a", seed=3, n_compounds=16)
    synthesize(tmp_path / "b", seed=3, n_compounds=16)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) > 6 and first == second


def test_different_seed_gives_different_names(tmp_path):
    a = _load(_written(tmp_path / "a", seed=0, n_compounds=16))
    b = _load(_written(tmp_path / "b", seed=1, n_compounds=16))
    names_a = {f["subject"] for f in a["facts"] if f["kind"].startswith("compound.")}
    names_b = {f["subject"] for f in b["facts"] if f["kind"].startswith("compound.")}
    assert names_a.isdisjoint(names_b)


# --- documents and facts ---------------------------------------------------------------


def test_summary_matches_files(default):
    summary = default["summary"]
    assert json.loads(json.dumps(default["returned"].to_dict())) == summary
    assert (summary["seed"], summary["n_compounds"], summary["eval_fraction"]) == (0, 80, 0.25)
    assert summary["documents"] == {"compound": 80, "gene": 20, "interaction": 20}
    assert len(default["docs"]) == 120
    assert {name: len(default[name]) for name in JSONL_FILES} == {name: summary[name] for name in JSONL_FILES}


def test_documents_are_long_prose_with_file_stem_ids(default):
    for doc_id, text in default["docs"].items():
        assert re.fullmatch(r"(compound|gene|interaction)-\d{4}", doc_id)
        assert len(text) >= 400, doc_id
        assert text.count("\n\n") >= 3  # a title and several paragraphs


def test_names_are_unique(default):
    facts = default["facts"]
    answers = [f["answer"] for f in facts]
    assert len(set(answers)) == len(answers)
    compounds = [f["subject"] for f in facts if f["kind"] == "compound.target"]
    genes = [f["subject"] for f in facts if f["kind"] == "gene.protein"]
    assert len(set(compounds)) == 80 and len(set(genes)) == 20


@pytest.mark.parametrize(("seed", "n_compounds"), [(0, 80), (1, 8), (2, 40)])
def test_every_answer_appears_only_in_its_document(tmp_path, seed, n_compounds):
    loaded = _load(_written(tmp_path / "d", seed=seed, n_compounds=n_compounds))
    docs = loaded["docs"]
    for record in loaded["qa_train"] + loaded["qa_eval"] + loaded["facts"]:
        holders = [doc_id for doc_id, text in docs.items() if record["answer"] in text]
        assert holders == [record["doc_id"]], record


def test_each_fact_is_stated_in_its_document_with_varied_templates(default):
    used: dict[str, set[str]] = {kind: set() for kind in STATEMENTS}
    for fact in default["facts"]:
        assert fact["statement"] in default["docs"][fact["doc_id"]]
        assert fact["answer"] in fact["statement"]
        matching = [t for t in STATEMENTS[fact["kind"]] if _template_regex(t).fullmatch(fact["statement"])]
        assert matching, fact
        used[fact["kind"]].update(matching)
    assert all(used[kind] == set(templates) for kind, templates in STATEMENTS.items())


def _template_regex(template: str) -> re.Pattern:
    return re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(template)))


# --- QA --------------------------------------------------------------------------------------


def test_qa_is_split_by_fact(default):
    train_facts = {q["fact"] for q in default["qa_train"]}
    eval_facts = {q["fact"] for q in default["qa_eval"]}
    assert train_facts.isdisjoint(eval_facts)
    assert train_facts | eval_facts == {f["id"] for f in default["facts"]}
    assert {f["id"] for f in default["facts"] if f["split"] == "eval"} == eval_facts
    assert len(eval_facts) == 150  # 25% of 600 facts
    kinds = {f["id"]: f["kind"] for f in default["facts"]}
    assert {kinds[i] for i in eval_facts} == {kinds[i] for i in train_facts} == set(STATEMENTS)


def test_qa_records_point_at_their_fact(default):
    facts = {f["id"]: f for f in default["facts"]}
    for record in default["qa_train"] + default["qa_eval"]:
        assert set(record) == {"id", "question", "answer", "doc_id", "fact"}
        fact = facts[record["fact"]]
        assert (record["answer"], record["doc_id"]) == (fact["answer"], fact["doc_id"])
        assert record["question"].endswith("?") and record["answer"] not in record["question"]
    questions = {}
    for record in default["qa_train"]:
        questions.setdefault(record["fact"], set()).add(record["question"])
    assert all(len(q) == synth.QUESTIONS_PER_TRAIN_FACT for q in questions.values())


def test_no_training_artifact_reveals_an_eval_answer(default):
    eval_answers = [f["answer"] for f in default["facts"] if f["split"] == "eval"]
    train_text = "\n".join(
        [q["question"] + q["answer"] for q in default["qa_train"]]
        + [i["prompt"] + i["response"] for i in default["instructions_train"]]
    )
    assert not [a for a in eval_answers if a in train_text]


# --- instructions -----------------------------------------------------------------------------


def test_eval_instructions_are_about_unseen_compounds(default):
    train_docs = {i["doc_id"] for i in default["instructions_train"]}
    eval_docs = {i["doc_id"] for i in default["instructions_eval"]}
    assert eval_docs and train_docs.isdisjoint(eval_docs)
    assert len(eval_docs) == 20
    names = {f["doc_id"]: f["subject"] for f in default["facts"]}
    train_text = "\n".join(i["prompt"] + i["response"] for i in default["instructions_train"])
    assert not [d for d in eval_docs if names[d] in train_text]


def test_training_compounds_get_several_distinct_field_sets(default):
    layouts: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for record in default["instructions_train"]:
        layouts.setdefault((record["doc_id"], record["format"]["kind"]), []).append(tuple(record["format"]["fields"]))
    assert all(len(sets) == len(set(sets)) for sets in layouts.values())
    assert max(len(sets) for sets in layouts.values()) == synth.INSTRUCTIONS_PER_TRAIN_COMPOUND
    per_eval = {}
    for record in default["instructions_eval"]:
        key = (record["doc_id"], record["format"]["kind"])
        per_eval[key] = per_eval.get(key, 0) + 1
    assert set(per_eval.values()) == {1}


def test_instruction_responses_carry_the_facts(default):
    facts = {f["id"]: f for f in default["facts"]}
    for record in default["instructions_train"] + default["instructions_eval"]:
        assert {"id", "prompt", "response", "format"} <= set(record)
        assert {facts[i]["doc_id"] for i in record["facts"]} == {record["doc_id"]}
        for fact_id in record["facts"]:
            assert str(facts[fact_id]["value"]) in record["response"]
    assert {r["format"]["kind"] for r in default["instructions_eval"]} == {"xml", "json", "keyvalue", "csv"}


def test_check_format_accepts_every_reference_response(default):
    records = default["instructions_train"] + default["instructions_eval"]
    assert records and all(check_format(r["format"], r["response"]) for r in records)
    assert all(check_format(json.dumps(r["format"]), "\n " + r["response"] + "\n") for r in records)


SPEC_FIELDS = {"name": "text", "target": "text", "dose_mg": "number"}
VALUES = {"name": "Vorantide", "target": "Talmerase", "dose_mg": 340}
NEAR_MISSES = {
    "xml": [
        '<compound name="Vorantide" target="Talmerase"/>',  # missing attribute
        '<compound name="Vorantide" target="Talmerase" dose_mg="340" route="oral"/>',  # extra attribute
        '<drug name="Vorantide" target="Talmerase" dose_mg="340"/>',  # wrong element
        'Here it is: <compound name="Vorantide" target="Talmerase" dose_mg="340"/>',  # text before
        '<compound name="Vorantide" target="Talmerase" dose_mg="340"/> Hope this helps.',  # text after
        '<compound name="Vorantide" target="Talmerase dose_mg="340"/>',  # malformed
        '<compound name="Vorantide" target="Talmerase" dose_mg="340"></compound>',  # not self-closing
        '<compound name="Vorantide" target="Talmerase" dose_mg="340 mg"/>',  # number with unit
        '<compound name="" target="Talmerase" dose_mg="340"/>',  # empty value
        '```xml\n<compound name="Vorantide" target="Talmerase" dose_mg="340"/>\n```',  # fenced
        '<compound name="Vorantide" target="Talmerase" dose_mg="340"/><compound name="X" target="Y" dose_mg="1"/>',
    ],
    "json": [
        '{"name": "Vorantide", "target": "Talmerase"}',
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": 340, "route": "oral"}',
        '{\n  "name": "Vorantide",\n  "target": "Talmerase",\n  "dose_mg": 340\n}',  # not one line
        'Answer: {"name": "Vorantide", "target": "Talmerase", "dose_mg": 340}',
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": 340} Done.',
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": "340"}',  # number as string
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": 340, "dose_mg": 340}',  # duplicate key
        "{'name': 'Vorantide', 'target': 'Talmerase', 'dose_mg': 340}",  # not JSON
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": NaN}',
        '[{"name": "Vorantide", "target": "Talmerase", "dose_mg": 340}]',
        '{"name": "Vorantide", "target": "Talmerase", "dose_mg": 340',
    ],
    "keyvalue": [
        "NAME: Vorantide\nTARGET: Talmerase",
        "NAME: Vorantide\nTARGET: Talmerase\nDOSE_MG: 340\nROUTE: oral",
        "name: Vorantide\ntarget: Talmerase\ndose_mg: 340",
        "TARGET: Talmerase\nNAME: Vorantide\nDOSE_MG: 340",  # wrong order
        "NAME:Vorantide\nTARGET: Talmerase\nDOSE_MG: 340",
        "Sure!\nNAME: Vorantide\nTARGET: Talmerase\nDOSE_MG: 340",
        "NAME: Vorantide\nTARGET: Talmerase\nDOSE_MG: 340 mg",
        "NAME: Vorantide\nTARGET: \nDOSE_MG: 340",
        "NAME: Vorantide\n\nTARGET: Talmerase\nDOSE_MG: 340",
    ],
    "csv": [
        "name,target\nVorantide,Talmerase",
        "target,name,dose_mg\nTalmerase,Vorantide,340",
        "name,target,dose_mg",
        "name,target,dose_mg\nVorantide,Talmerase,340\nVorantide,Talmerase,340",
        "name,target,dose_mg\nVorantide,Talmerase",
        "name,target,dose_mg\nVorantide,Talmerase,340 mg",
        "name,target,dose_mg\nVorantide,,340",
        "Here:\nname,target,dose_mg\nVorantide,Talmerase,340",
    ],
}


@pytest.mark.parametrize("kind", sorted(NEAR_MISSES))
def test_check_format_rejects_near_misses(kind):
    spec = make_spec(kind, SPEC_FIELDS, "compound")
    reference = render(spec, VALUES)
    assert check_format(spec, reference)
    rejected = [miss for miss in NEAR_MISSES[kind] if check_format(spec, miss)]
    assert rejected == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "yaml", "fields": {"name": "text"}},
        {"kind": "json", "fields": {}},
        {"kind": "json", "fields": {"name": "date"}},
        {"kind": "xml", "fields": {"name": "text"}},  # no element
        "not json",
    ],
)
def test_check_format_bad_spec_is_user_error(spec):
    with pytest.raises(UserError, match="format spec"):
        check_format(spec, "{}")


# --- parameters and writing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be an integer from 0 to 4294967295"),
        ({"seed": "0"}, "seed must be an integer from 0 to 4294967295"),
        ({"seed": 2**32}, "seed must be an integer from 0 to 4294967295"),
        ({"n_compounds": 7}, "n_compounds must be an integer from 8 to 400"),
        ({"n_compounds": 401}, "n_compounds must be an integer from 8 to 400"),
        ({"n_compounds": True}, "n_compounds must be an integer from 8 to 400"),
        ({"eval_fraction": 0.05}, "eval_fraction must be a number from 0.1 to 0.5"),
        ({"eval_fraction": 0.9}, "eval_fraction must be a number from 0.1 to 0.5"),
    ],
)
def test_bad_parameters_are_user_errors(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        synthesize(tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no synthetic domain \\(synth.json\\)"):
        synthesize(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_rerun_replaces_the_previous_output(tmp_path):
    out = tmp_path / "domain"
    synthesize(out, seed=0, n_compounds=40)
    synthesize(out, seed=1, n_compounds=8)
    assert _files(out) == _files(_written(tmp_path / "fresh", seed=1, n_compounds=8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domain", "fresh"]


def _failing_write_jsonl(real):
    def write(path, records):
        if path.name == "instructions_eval.jsonl":
            raise OSError("disk full")
        return real(path, records)

    return write


def test_a_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "write_jsonl", _failing_write_jsonl(synth.write_jsonl))
    with pytest.raises(OSError, match="disk full"):
        synthesize(tmp_path / "domain", n_compounds=8)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_previous_output(tmp_path, monkeypatch):
    out = tmp_path / "domain"
    before = _files(_written(out, seed=0, n_compounds=8))
    monkeypatch.setattr(synth, "write_jsonl", _failing_write_jsonl(synth.write_jsonl))
    with pytest.raises(OSError):
        synthesize(out, seed=1, n_compounds=16)
    assert _files(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["domain"]


def test_practice_domains_are_fresh_seeds_with_their_own_facts():
    first, second = practice_domains(2)
    assert (first.summary.seed, second.summary.seed) == (PRACTICE_SEEDS, PRACTICE_SEEDS + 1)
    evaluated = generate(seed=0).records["instructions_eval.jsonl"]
    taught = {r["response"] for d in (first, second) for f in ("instructions_train.jsonl", "instructions_eval.jsonl")
              for r in d.records[f]}
    assert taught.isdisjoint(r["response"] for r in evaluated)


def test_a_reply_is_read_back_into_its_spec_and_values_without_being_told_the_layout(default):
    records = default["instructions_eval"]
    assert {r["format"]["kind"] for r in records} == {"xml", "json", "keyvalue", "csv"}
    for r in records:
        spec, values = parse_record("\n" + r["response"] + " ")
        typed = {k: (float(v) if "." in v else int(v)) if spec["fields"][k] == "number" else v
                 for k, v in values.items()}
        assert spec == r["format"] and render(spec, typed) == r["response"]
        assert field_values(r["format"], r["response"]) == values


@pytest.mark.parametrize("reply", ["", "The dose is 450 mg.", "Sure: {\"name\": \"A\"}", "{\"name\": [1]}",
                                   "<a><b/></a>", "name,dose\nA", "NAME: A\nNAME: B", "a,a\n1,2"])
def test_what_holds_no_record_reads_as_none(reply):
    assert parse_record(reply) is None


def test_field_values_need_the_specs_kind_and_every_field():
    spec = make_spec("json", {"name": "text", "dose_mg": "number"})
    assert field_values(spec, '{"dose_mg": 450.0, "name": "A", "extra": "x"}') == {"name": "A", "dose_mg": "450.0"}
    assert field_values(spec, '{"name": "A"}') is None
    assert field_values(spec, "NAME: A\nDOSE_MG: 450") is None  # the right facts in another layout
