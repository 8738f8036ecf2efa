"""Records filled from the documents: the writer's layout kept, each field's value the reader's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from adaptlab.corpus.synth_formats import check_format, make_spec
from adaptlab.lm import LM
from adaptlab.retrieval.fill import FilledRecordLM, field_question


class Scripted(LM):
    """Answers each prompt from a table (a missing one is ''), recording what it was asked."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.asked: list[str] = []
        self.read_over: list[tuple[str, str]] = []  # (query, focus) of each field read

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        self.asked += [prompt for prompt, _ in requests]
        return [self.answers.get(prompt, "") for prompt, _ in requests]

    def read(self, requests, *, queries, focus):  # RagLM.read: retrieved for a query, cut to a focus
        self.read_over += list(zip(queries, focus))
        return self.generate_until(requests)

    def loglikelihood(self, requests):
        return [(-1.0, True) for _ in requests]

    def loglikelihood_rolling(self, texts):
        return [-1.0 for _ in texts]


INSTRUCTION = "Give Farondrix's name, dose_mg and target in this layout."
READER = Scripted({field_question("name", INSTRUCTION): "Farondrix",
                   field_question("dose_mg", INSTRUCTION): "450 mg",
                   field_question("target", INSTRUCTION): "Kelomin receptor",
                   "What is the dose of Farondrix?": "450 mg"})
FIELDS = {"name": "text", "dose_mg": "number", "target": "text"}


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
    reader = Scripted(READER.answers)
    lm = FilledRecordLM(Scripted({INSTRUCTION: written}), reader)
    [out] = lm.generate_until([(INSTRUCTION, {"until": ["\n\n"]})])
    assert out == filled
    assert check_format(make_spec(kind, FIELDS, "compound"), out)
    assert reader.asked == [field_question(f, INSTRUCTION) for f in FIELDS]  # 'dose mg? Give Farondrix's ...'
    assert reader.asked[1] == "dose mg? " + INSTRUCTION
    # each field over the passages the instruction retrieves, cut to the sentences closest to its name
    assert reader.read_over == [(INSTRUCTION, "name"), (INSTRUCTION, "dose mg"), (INSTRUCTION, "target")]


def test_a_plain_answer_is_the_readers_and_a_field_the_reader_misses_keeps_the_written_value():
    reader = Scripted({**READER.answers, field_question("target", INSTRUCTION): ""})
    writer = Scripted({"What is the dose of Farondrix?": "I think 300 mg",
                       INSTRUCTION: '{"name": "Farondrix", "dose_mg": 999, "target": "Written"}'})
    lm = FilledRecordLM(writer, reader)
    answers = lm.generate_until([("What is the dose of Farondrix?", {}), (INSTRUCTION, {})])
    assert answers[0] == "450 mg"
    assert json.loads(answers[1]) == {"name": "Farondrix", "dose_mg": 450, "target": "Written"}


def test_a_field_question_is_the_field_in_words_and_the_instructions_first_words():
    long = "Report on  Farondrix\nin exactly this layout: " + " ".join(f"w{i}" for i in range(40))
    question = field_question("half_life_hours", long)
    assert question.startswith("half life hours? Report on Farondrix in exactly this layout: w0 w1")
    assert len(question.split()) == 3 + 24
