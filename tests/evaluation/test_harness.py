"""`lm_eval --model adaptlab` scores a run folder offline on a local YAML task."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from adaptlab.lm import HFCausalLM

QUESTIONS = [
    {"question": "The compound", "choices": [" is", " gene", " dose"], "label": 0},
    {"question": "The standard dose of", "choices": [" the", " protein", " 200"], "label": 0},
    {"question": "Gene", "choices": [" encodes", " the", " mg"], "label": 1},
    {"question": "Side effects include", "choices": [" rash", " compound", " of"], "label": 2},
]

TASK = """task: adaptlab_local_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
"""


def _expected_accuracy(run: Path) -> float:
    lm = HFCausalLM.from_path(run)
    hits = 0
    for q in QUESTIONS:
        scores = [s for s, _ in lm.loglikelihood([(q["question"], c) for c in q["choices"]])]
        hits += scores.index(max(scores)) == q["label"]
    return hits / len(QUESTIONS)


def test_lm_eval_cli_scores_a_run_folder_on_a_local_task(decoder_run, tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "local_mc.yaml").write_text(TASK.format(data=data))
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    lm_eval = shutil.which("lm_eval", path=str(Path(sys.executable).parent))
    cmd = [lm_eval, "--model", "adaptlab", "--model_args", f"run={decoder_run}", "--tasks", "adaptlab_local_mc",
           "--include_path", str(tasks), "--output_path", str(tmp_path / "out"), "--batch_size", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    (result_file,) = (tmp_path / "out").rglob("results*.json")
    results = json.loads(result_file.read_text())["results"]["adaptlab_local_mc"]
    assert results["acc,none"] == _expected_accuracy(decoder_run)
