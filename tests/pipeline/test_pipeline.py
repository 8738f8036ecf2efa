"""Pipelines built in Python: order, timings, errors naming the stage, and the LM calls."""

from __future__ import annotations

import pytest
from context_helpers import RecordingLM

from adaptlab.errors import UserError
from adaptlab.pipeline.pipeline import Pipeline, StageError
from adaptlab.pipeline.stages import FunctionStage, LMStage, PromptStage
from adaptlab.prompting.prompter import Prompter
from adaptlab.prompting.templating import load_template


def test_stages_run_in_order_and_are_timed():
    pipeline = Pipeline([FunctionStage("upper", str.upper), FunctionStage("exclaim", lambda t: t + "!"),
                         FunctionStage("wrap", lambda t: f"<{t}>")])
    result = pipeline.run("hi")
    assert result.output == "<HI!>"
    assert [(run.name, run.output) for run in result.stages] == [("upper", "HI"), ("exclaim", "HI!"), ("wrap", "<HI!>")]
    assert list(result.seconds) == ["upper", "exclaim", "wrap"] and all(s >= 0 for s in result.seconds.values())


def test_request_settings_go_to_the_last_lm_stage():
    rewriter, answerer = RecordingLM(reply=lambda c: c + " (rewritten)"), RecordingLM(reply=lambda c: " A\n")
    pipeline = Pipeline([LMStage("rewrite", rewriter, {"max_gen_toks": 8}),
                         PromptStage("prompt", Prompter(load_template("zero_shot"))),
                         LMStage("answer", answerer, {"max_gen_toks": 4, "until": ["\n\n"]}),
                         FunctionStage("strip", str.strip)])
    assert pipeline.generate_until([("Q?", {"until": ["\n"]})]) == ["A"]
    assert rewriter.calls == [("generate_until", [("Q?", {"max_gen_toks": 8})])]
    assert answerer.calls == [("generate_until", [("Question: Q? (rewritten)\nAnswer:",
                                                   {"max_gen_toks": 4, "until": ["\n"]})])]


def test_scores_come_from_the_last_lm_stage_after_the_stages_before_it():
    scorer = RecordingLM()
    pipeline = Pipeline([FunctionStage("shout", str.upper), LMStage("model", scorer),
                         FunctionStage("strip", str.strip)])
    assert pipeline.loglikelihood([("q?", " yes")]) == [(-4.0, True)]
    assert pipeline.loglikelihood_rolling(["doc"]) == [-3.0]
    assert scorer.calls == [("loglikelihood", [("Q?", " yes")]), ("loglikelihood_rolling", ["doc"])]
    assert Pipeline([LMStage("only", RecordingLM())]).loglikelihood([("q", " a")]) == [(-2.0, True)]
    with pytest.raises(UserError, match="pipeline stages shout include no lm stage; scoring needs one"):
        Pipeline([FunctionStage("shout", str.upper)]).loglikelihood([("q", "a")])


def test_a_failing_stage_is_named():
    def explode(text: str) -> str:
        raise ZeroDivisionError("no")

    with pytest.raises(StageError, match=r"stage 'explode' failed: ZeroDivisionError: no") as err:
        Pipeline([FunctionStage("ok", str.strip), FunctionStage("explode", explode)]).run("x")
    assert isinstance(err.value.__cause__, ZeroDivisionError)
    with pytest.raises(UserError, match=r"stage 'count': len returned int; a stage function takes a str"):
        Pipeline([FunctionStage("count", len)]).run("x")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="stage name 'a' is used twice"):
        Pipeline([FunctionStage("a", str.strip), FunctionStage("a", str.upper)])
    with pytest.raises(UserError, match="at least one stage"):
        Pipeline([])
