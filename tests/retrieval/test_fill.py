"""Records filled from the documents: the writer's layout kept, each field's value the reader's,
read from the instruction's first document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from adaptlab.corpus.synth_formats import check_format, make_spec
from adaptlab.errors import UserError
from adaptlab.retrieval.chunking import Chunk
from adaptlab.retrieval.fill import FilledRecordLM, field_focus, field_question
from adaptlab.retrieval.rag import RagLM
from retrieval.fakes import HashEmbedder
from retrieval.rag_fakes import CharReader, FixedSearcher, hit


class Scripted(CharReader):
    """Answers each prompt's question (its `Question:` line, or the whole prompt) from a table, a missing
    one '', recording the prompts; one token per character."""

    def __init__(self, answers: dict[str, str]):
        super().__init__(2000)
        self.answers = answers

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        self.prompts += [prompt for prompt, _ in requests]
        return [self.answers.get(question(prompt), "") for prompt, _ in requests]


def question(prompt: str) -> str:
    return prompt.rsplit("Question: ", 1)[-1].removesuffix("\nAnswer:")


INSTRUCTION = ("Give the facts about Farondrix in this layout, where name is the compound's name; dose_mg is its "
               "standard adult dose in milligrams, as a number; target is the protein it acts on.")
# Farondrix's document in two overlapping chunks, the first retrieved; another compound's document
# states the same kinds of fact (retrieved second: its sentences must not be read)
FARONDRIX = ("Farondrix: compound monograph. Farondrix acts on the protein Kelomin receptor. ",
             "The standard adult dose of Farondrix is 450 mg, taken once daily. It is blue.")
CHUNKS = [Chunk("farondrix", 0, 0, len(FARONDRIX[0]) - 1, FARONDRIX[0].strip()),
          Chunk("farondrix", 1, len(FARONDRIX[0]), len("".join(FARONDRIX)), FARONDRIX[1])]
OTHER = hit("zelmax", "The standard adult dose of Zelmax is 999 mg. Zelmax is an inhibitor of the protein Wrongase.")
READS = {field_question("name", INSTRUCTION): "Farondrix",
         field_question("dose_mg", INSTRUCTION): "450 mg",
         field_question("target", INSTRUCTION): "Kelomin receptor",
         "What is the dose of Farondrix?": "450 mg"}
FIELDS = {"name": "text", "dose_mg": "number", "target": "text"}


def filler(writer: dict[str, str], reads: dict[str, str], sentences: int | None = 1) -> tuple[FilledRecordLM, Scripted]:
    reader = Scripted(reads)
    searcher = FixedSearcher([hit("farondrix", CHUNKS[0].text), OTHER], extra=CHUNKS[1:])
    searcher.index.chunks[0] = CHUNKS[0]
    searcher.embedder = HashEmbedder()
    return FilledRecordLM(Scripted(writer), RagLM(reader, searcher, k=2, sentences=sentences)), reader


@pytest.mark.parametrize("kind, written, filled", [
    ("json", '{"name": "Farondrix", "dose_mg": 999, "target": "Wrong"}',
     '{"name": "Farondrix", "dose_mg": 450, "target": "Kelomin receptor"}'),
    ("xml", '<compound name="Farondrix" dose_mg="999" target="Wrong"/>',
     '<compound name="Farondrix" dose_mg="450" target="Kelomin receptor"/>'),
    ("keyvalue", "NAME: Farondrix\nDOSE_MG: 999\nTARGET: Wrong",
     "NAME: Farondrix\nDOSE_MG: 450\nTARGET: Kelomin receptor"),
    ("csv", "name,dose_mg,target\nFarondrix,999,Wrong", "name,dose_mg,target\nFarondrix,450,Kelomin receptor"),
])
def test_each_field_is_read_from_the_documents_in_the_writers_layout(kind, written, filled):
    lm, reader = filler({INSTRUCTION: written}, READS)
    [out] = lm.generate_until([(INSTRUCTION, {"until": ["\n\n"]})])
    assert out == filled
    assert check_format(make_spec(kind, FIELDS, "compound"), out)
    assert [question(p) for p in reader.prompts] == [field_question(f, INSTRUCTION) for f in FIELDS]
    # each field over the first document only, cut to its sentence closest to what the field holds
    dose = reader.prompts[1]
    assert dose == ("[farondrix] The standard adult dose of Farondrix is 450 mg, taken once daily.\n\n"
                    "Question: dose mg: its standard adult dose in milligrams?\nAnswer:")
    assert "Kelomin receptor" in reader.prompts[2] and all("Zelmax" not in p for p in reader.prompts)


def test_without_sentences_the_whole_first_document_is_read_its_overlap_once():
    lm, reader = filler({INSTRUCTION: '{"name": "Farondrix", "dose_mg": 999, "target": "Wrong"}'}, READS, None)
    lm.generate_until([(INSTRUCTION, {})])
    assert reader.prompts[0].startswith(f"[farondrix] {CHUNKS[0].text}\n\n{CHUNKS[1].text}\n\nQuestion: name")


def test_a_plain_answer_is_the_readers_and_a_field_the_reader_misses_keeps_the_written_value():
    lm, _ = filler({"What is the dose of Farondrix?": "I think 300 mg",
                    INSTRUCTION: '{"name": "Farondrix", "dose_mg": 999, "target": "Written"}'},
                   {**READS, field_question("target", INSTRUCTION): ""})
    answers = lm.generate_until([("What is the dose of Farondrix?", {}), (INSTRUCTION, {})])
    assert answers[0] == "450 mg"
    assert json.loads(answers[1]) == {"name": "Farondrix", "dose_mg": 450, "target": "Written"}


def test_a_fields_focus_is_its_words_and_what_the_instruction_says_it_holds():
    assert field_focus("dose_mg", INSTRUCTION) == "dose mg: its standard adult dose in milligrams"
    assert field_focus("target", "Report on X.\nTARGET: <text>\nwhere TARGET is the protein it acts on.") == \
        "target: the protein it acts on"  # keys written in capitals, as the key-value layout does
    assert field_focus("half_life_hours", "Give X's half_life_hours as JSON.") == "half life hours"
    assert field_question("target", INSTRUCTION) == "target: the protein it acts on?"


def test_field_examples_ask_each_distinct_field_once_over_its_own_document_sampled_to_the_limit():
    from adaptlab.retrieval.fill import field_examples

    lm, _ = filler({}, {})
    json_record = {"prompt": INSTRUCTION, "doc_id": "farondrix", "format": make_spec("json", FIELDS, "compound"),
                   "response": '{"name": "Farondrix", "dose_mg": 450, "target": "Kelomin receptor"}'}
    csv_record = {**json_record, "format": make_spec("csv", FIELDS, "compound"),
                  "response": "name,dose_mg,target\nFarondrix,450,Kelomin receptor"}
    every = field_examples(lm.rag, [json_record, csv_record], lambda d: d)
    assert sorted(e["response"] for e in every) == ["450", "Farondrix", "Kelomin receptor"]  # asked alike: once
    dose = next(e for e in every if e["response"] == "450")
    assert dose["prompt"].startswith("[farondrix] The standard adult dose of Farondrix is 450 mg")
    assert dose["prompt"].endswith("Question: dose mg: its standard adult dose in milligrams?\nAnswer:")
    two = field_examples(lm.rag, [json_record, csv_record], lambda d: d, limit=2)
    assert len(two) == 2 and two == field_examples(lm.rag, [json_record], lambda d: d, limit=2)  # the same two
    with pytest.raises(UserError, match="'farondrix' is not in the index"):
        field_examples(lm.rag, [json_record], lambda d: None)
