"""`lm_eval --model adaptlab` scores a run folder offline on a local YAML task exactly as lm-eval's
own `hf` model type scores the same saved checkpoint, both through the real `lm_eval` command."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from adaptlab.corpus.synth import generate

TASK = """task: adaptlab_local_cloze
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
"""


def cloze_items(n_compounds: int = 16, choices: int = 4) -> list[dict]:
    """Multiple-choice cloze items from the synthetic domain the test corpus is built from: a fact's
    statement up to its value, the true value and `choices - 1` values the same kind of fact takes
    for other subjects, in a seeded order."""
    facts = generate(seed=0, n_compounds=n_compounds).records["facts.jsonl"]
    rng = random.Random(0)
    items = []
    for fact in facts:
        cut = fact["statement"].find(fact["answer"])
        others = sorted({f["answer"] for f in facts if f["kind"] == fact["kind"]} - {fact["answer"]})
        if cut < 1 or len(others) < choices - 1:
            continue
        options = [fact["answer"], *rng.sample(others, choices - 1)]
        rng.shuffle(options)
        items.append({"context": fact["statement"][:cut].rstrip(), "choices": [" " + o for o in options],
                      "label": options.index(fact["answer"])})
    return items


def _lm_eval(model: str, model_args: str, tasks: Path, out: Path) -> tuple[float, dict[int, list[float]]]:
    """Accuracy and, by document, each choice's log-likelihood, as the `lm_eval` command wrote them."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(out / "hf")}
    lm_eval = shutil.which("lm_eval", path=str(Path(sys.executable).parent))
    cmd = [lm_eval, "--model", model, "--model_args", model_args, "--tasks", "adaptlab_local_cloze",
           "--include_path", str(tasks), "--output_path", str(out), "--batch_size", "4", "--device", "cpu",
           "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result_file,) = out.rglob("results*.json")
    (samples_file,) = out.rglob("samples_adaptlab_local_cloze*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    scores = {s["doc_id"]: [float(resp[0][0]) for resp in s["resps"]] for s in samples}
    return json.loads(result_file.read_text())["results"]["adaptlab_local_cloze"]["acc,none"], scores


def test_lm_eval_adaptlab_model_scores_as_lm_evals_hf_model(decoder_run, tmp_path):
    items = cloze_items()
    assert len(items) >= 50
    data = tmp_path / "cloze.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in items))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "local_cloze.yaml").write_text(TASK.format(data=data))

    ours, our_scores = _lm_eval("adaptlab", f"run={decoder_run}", tasks, tmp_path / "adaptlab")
    # adaptlab conditions every context on the EOS that ended each training document; lm-eval's hf type
    # prepends the tokenizer's BOS when asked to. The same weights are read from the run's folder, with a
    # copy of its tokenizer that names that EOS as BOS (and nothing else changed).
    tokenizer = AutoTokenizer.from_pretrained(decoder_run / "model")
    tokenizer.bos_token = tokenizer.eos_token
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    theirs, their_scores = _lm_eval("hf", f"pretrained={decoder_run / 'model'},tokenizer={tmp_path / 'tokenizer'},"
                                          "add_bos_token=True,dtype=float32", tasks, tmp_path / "hf")

    assert sorted(our_scores) == sorted(their_scores) == list(range(len(items)))
    for doc, scores in our_scores.items():
        assert scores == pytest.approx(their_scores[doc], abs=1e-3), doc
    assert len({round(s, 3) for scores in our_scores.values() for s in scores}) > len(items)  # not a constant
    assert ours == theirs == pytest.approx(
        sum(scores.index(max(scores)) == item["label"] for scores, item in
            zip((our_scores[d] for d in range(len(items))), items)) / len(items))
