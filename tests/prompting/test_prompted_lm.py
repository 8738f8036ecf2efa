"""PromptedLM: the inner model sees rendered prompts; chain-of-thought answers are extracted."""

from __future__ import annotations

import pytest
from context_helpers import RecordingLM

from adaptlab.lm import HFCausalLM
from adaptlab.prompting.answers import extract_answer
from adaptlab.prompting.examples import Example
from adaptlab.prompting.prompted_lm import PromptedLM
from adaptlab.prompting.prompter import Prompter
from adaptlab.prompting.selection import FixedSelector
from adaptlab.prompting.templating import load_template

EXAMPLES = [Example("a", "What does Zorblex bind?", "Tatramase"), Example("b", "Who makes Quelvin?", "Morbemis")]


def few_shot() -> Prompter:
    return Prompter(load_template("few_shot"), FixedSelector(EXAMPLES, 2), "Answer briefly.")


def test_inner_lm_sees_rendered_contexts():
    inner = RecordingLM(reply=lambda context: " Tatramase")
    lm = PromptedLM(inner, few_shot())
    expected = few_shot().render(["Who makes Drulondrix?"])[0]
    assert lm.generate_until([("Who makes Drulondrix?", {"until": ["\n"]})]) == [" Tatramase"]
    assert lm.loglikelihood([("Who makes Drulondrix?", " Morbemis")]) == [(-9.0, True)]
    assert lm.loglikelihood_rolling(["A whole document."]) == [-17.0]
    assert inner.calls == [("generate_until", [(expected, {"until": ["\n"]})]),
                           ("loglikelihood", [(expected, " Morbemis")]),
                           ("loglikelihood_rolling", ["A whole document."])]
    assert expected.startswith("Answer briefly.\n\nQuestion: What does Zorblex bind?\nAnswer: Tatramase\n\n")


def test_reasoning_templates_return_the_final_answer():
    reasoning = " Quelvin is made by Morbemis.\nAnswer: Morbemis\n"
    cot = PromptedLM(RecordingLM(reply=lambda context: reasoning), Prompter(load_template("chain_of_thought")))
    assert cot.generate_until([("Who makes Quelvin?", {})]) == ["Morbemis"]
    raw = PromptedLM(RecordingLM(reply=lambda context: reasoning), Prompter(load_template("hybrid")),
                     extract_answer=False)
    assert raw.generate_until([("Who makes Quelvin?", {})]) == [reasoning]


@pytest.mark.parametrize(("text", "answer"), [
    ("It binds the enzyme.\nAnswer: Tatramase", "Tatramase"),
    ("answer: first\nthen more. ANSWER:  second \nextra line", "second"),
    ("Answer:\nTatramase", "Tatramase"),
    (" Tatramase\n\n", "Tatramase"),
    ("", ""),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_real_model_behind_a_prompt(decoder_run):
    inner = HFCausalLM.from_path(decoder_run)
    lm = PromptedLM(inner, few_shot())
    prompt = few_shot().render(["Who makes Drulondrix?"])[0]
    assert lm.loglikelihood([("Who makes Drulondrix?", " Morbemis")]) == inner.loglikelihood([(prompt, " Morbemis")])
    settings = {"max_gen_toks": 4}
    assert lm.generate_until([("Who makes Drulondrix?", settings)]) == inner.generate_until([(prompt, settings)])
    assert lm.loglikelihood_rolling(["The compound"]) == inner.loglikelihood_rolling(["The compound"])
