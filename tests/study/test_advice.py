"""The advice: the best strategy for knowledge, behaviour and both, the cheapest, and ties within the spread."""

from __future__ import annotations

from adaptlab.study.advice import advise, both
from adaptlab.study.cost import CostSettings, cost_table

COSTS = CostSettings(reference="few", requests_per_day=1000, lifespan_days=10)


def _result(name: str, knowledge: float, form: float, content: float, *, prompt: float = 50.0,
            train_seconds: float = 0.0, spread: dict[str, float] | None = None) -> dict:
    return {"name": name, "method": name, "status": "done", "spread": spread or {},
            "measures": {"knowledge_em": knowledge, "format_compliance": form, "content_accuracy": content,
                         "prompt_tokens_per_request": prompt, "output_tokens_per_request": 5.0,
                         "train_seconds": train_seconds}}


def _advise(results: list[dict]) -> dict[str, object]:
    rows = {row["name"]: row for row in cost_table(results, COSTS)}
    return {pick.need.split(" ")[0]: pick for pick in advise(results, rows, COSTS)}


def test_each_need_gets_its_best_strategy_with_the_figures_that_decide_it():
    results = [_result("rag", 0.70, 0.00, 0.00, prompt=150), _result("few", 0.05, 0.60, 0.05, prompt=220),
               _result("sft", 0.02, 0.95, 0.02, prompt=60, train_seconds=180),
               _result("rag_sft", 0.70, 0.92, 0.65, prompt=400, train_seconds=180),
               _result("zero", 0.00, 0.40, 0.00, prompt=60)]
    picks = _advise(results)
    assert [picks[need].name for need in ("knowledge", "behaviour", "both", "the")] == ["rag", "sft", "rag_sft", "zero"]
    assert picks["knowledge"].ties == ["rag_sft"]  # one seed: equal scores tie, nothing else does
    assert picks["behaviour"].ties == [] and picks["both"].ties == []
    assert picks["both"].figures.startswith("the least of knowledge EM, format compliance and content accuracy: "
                                            "0.650 (knowledge EM 0.700, format compliance 0.920, content accuracy "
                                            "0.650)")
    assert "cheaper than few after" in picks["behaviour"].figures  # trains up front, shorter prompts after
    assert "no traffic makes it cheaper than few" in picks["both"].figures  # dearer up front and per request
    assert "never dearer than few" in picks["the"].figures and "over the lifespan (10,000 requests)" in \
        picks["the"].figures
    assert "it is the reference" in _advise([r for r in results if r["name"] == "few"])["knowledge"].figures


def test_strategies_within_their_spread_tie():
    results = [_result("few", 0.10, 0.60, 0.1), _result("a", 0.50, 0.62, 0.0, spread={"knowledge_em": 0.05}),
               _result("b", 0.47, 0.55, 0.0, spread={"knowledge_em": 0.01}), _result("c", 0.40, 0.1, 0.0)]
    picks = _advise(results)
    assert (picks["knowledge"].name, picks["knowledge"].ties) == ("a", ["b"])  # 0.03 apart, spread 0.05
    assert (picks["behaviour"].name, picks["behaviour"].ties) == ("a", [])  # no spread given for compliance


def test_both_is_the_least_of_the_three_and_absent_where_unmeasured():
    assert both({"knowledge_em": 0.9, "format_compliance": 0.5, "content_accuracy": 0.7}) == 0.5
    assert both({"knowledge_em": 0.9, "format_compliance": 0.5}) is None
    picks = _advise([{**_result("few", 0.1, 0.2, 0.0), "measures": {"knowledge_em": 0.1, "format_compliance": 0.2}}])
    assert set(picks) == {"knowledge", "behaviour", "the"}


def test_what_few_shot_examples_changed_is_said_layout_by_layout():
    from adaptlab.study.advice import prompting_effect

    zero, few = _result("zero", 0.0, 0.5, 0.0), _result("few", 0.0, 0.5, 0.0)
    zero["method"], few["method"] = "zero_shot", "few_shot"
    zero["measures"]["format_compliance_by_kind"] = {"xml": 1.0, "json": 1.0, "csv": 0.0}
    few["measures"]["format_compliance_by_kind"] = {"xml": 1.0, "json": 0.8, "csv": 0.0}
    text = prompting_effect([zero, few])
    assert text == ("Prompting: few-shot (few) answers in the required format 0.500 of the time, level with "
                    "zero-shot's 0.500 (zero); by layout, few-shot against zero-shot: xml 1.00 against 1.00, json 0.80 against "
                    "1.00, csv 0.00 against 0.00. The examples shown did not make the base write the csv layouts it "
                    "does not already follow; fine-tuning on them is what teaches them.")
    few["measures"]["format_compliance"] = 0.7
    few["measures"]["format_compliance_by_kind"]["csv"] = 0.9
    assert "above zero-shot's" in prompting_effect([zero, few]) and "did not make" not in prompting_effect([zero, few])
    assert prompting_effect([zero]) is None
