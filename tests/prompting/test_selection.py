"""Example selection: fixed, random under a seed, most similar; never the query's own example."""

from __future__ import annotations

import pytest

from adaptlab.errors import UserError
from adaptlab.prompting.examples import Example
from adaptlab.prompting.prompter import Prompter, PromptSettings
from adaptlab.prompting.selection import FixedSelector, RandomSelector, SimilarSelector, make_selector
from adaptlab.retrieval.embeddings import default_embedder

POOL = [Example(f"e{i}", f"Question number {i}?", f"answer {i}") for i in range(20)]


def ids(selected: list[Example]) -> list[str]:
    return [example.id for example in selected]


def test_fixed_takes_the_first_k_or_the_given_ids_in_order():
    assert ids(FixedSelector(POOL, 3).select(["Q?"])[0]) == ["e0", "e1", "e2"]
    assert ids(FixedSelector(POOL, 3).select(["Question number 1?"])[0]) == ["e0", "e2", "e3"]
    assert ids(FixedSelector(POOL, 0, ids=["e7", "e2"]).select(["Q?"])[0]) == ["e7", "e2"]
    with pytest.raises(UserError, match="example id 'e99' is not in the examples; ids there look like e0, e1, e2"):
        FixedSelector(POOL, 1, ids=["e99"])
    with pytest.raises(UserError, match="ids are for select=fixed, not select=random"):
        make_selector("random", POOL, 1, ids=["e1"])


def test_random_repeats_under_a_seed_and_differs_across_seeds():
    questions = ["What is A?", "Question number 4?"]
    first = RandomSelector(POOL, 4, seed=1).select(questions)
    assert first == RandomSelector(POOL, 4, seed=1).select(questions)
    assert first[0] == RandomSelector(POOL, 4, seed=1).select(questions[:1])[0]  # independent of the batch
    assert len({tuple(ids(RandomSelector(POOL, 4, seed=s).select(questions)[0])) for s in range(5)}) > 1
    assert all(len(set(ids(chosen))) == 4 for chosen in first)
    assert "e4" not in ids(first[1])
    whole = RandomSelector(POOL, 20, seed=0).select(["Question number 4?"])[0]
    assert sorted(ids(whole)) == sorted(f"e{i}" for i in range(20) if i != 4)


def test_similar_picks_the_closest_examples_most_similar_last():
    pool = [Example("paris", "What is the capital of France?", "Paris"),
            Example("aspirin", "How much aspirin may an adult take in a day?", "4 g"),
            Example("nile", "Which river flows through Cairo?", "the Nile"),
            Example("ibuprofen", "What is the usual adult dose of ibuprofen?", "400 mg")]
    selector = SimilarSelector(pool, 2, default_embedder())
    chosen = selector.select(["What daily dose of aspirin is safe for grown-ups?", "Which city is France's capital?"])
    assert ids(chosen[0]) == ["ibuprofen", "aspirin"]
    assert ids(chosen[1])[-1] == "paris"
    # the query's own example is never shown, even though it is the most similar
    assert "nile" not in ids(selector.select(["Which river flows through Cairo?"])[0])


@pytest.mark.parametrize("k", [0, 1, 5])
def test_k_gives_zero_one_and_few_shot(tmp_path, k):
    path = tmp_path / "ex.jsonl"
    path.write_text("".join(f'{{"question": "Q{i}?", "answer": "A{i}"}}\n' for i in range(5)))
    prompt = Prompter.from_settings(PromptSettings(examples=path, k=k, select="random")).render(["Z?"])[0]
    assert prompt.count("Question:") == k + 1


def test_settings_mistakes(tmp_path):
    path = tmp_path / "ex.jsonl"
    path.write_text('{"question": "Q?", "answer": "A"}\n')
    with pytest.raises(UserError, match=r"k=2 but .*ex.jsonl holds 1 examples"):
        Prompter.from_settings(PromptSettings(examples=path, k=2))
    with pytest.raises(UserError, match="template zero_shot never shows examples"):
        Prompter.from_settings(PromptSettings(template="zero_shot", examples=path, k=1))
    with pytest.raises(ValueError, match="k=2 needs an examples file"):
        PromptSettings(k=2)
    assert Prompter.from_settings(PromptSettings()).render(["Q?"]) == ["Question: Q?\nAnswer:"]
    with pytest.raises(ValueError, match="ids needs an examples file"):
        PromptSettings(ids=["a"])
    both = Prompter.from_settings(PromptSettings(examples=path, k=5, ids=[f"{path}:1"])).render(["Z?"])[0]
    assert both.count("Question:") == 2  # ids override k
