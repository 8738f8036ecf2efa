"""Commands print what they are for and nothing else: no library chatter, no hub look-ups."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# Switches a user's shell might hold; the commands must be quiet and offline without them.
LIBRARY_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS",
                    "TQDM_DISABLE", "PYTHONWARNINGS")


def _adaptlab(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in LIBRARY_SWITCHES}
    proc = subprocess.run([sys.executable, "-m", "adaptlab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiet")
    (root / "docs").mkdir()
    (root / "docs" / "vorantide.txt").write_text("Vorantide is developed by Halcyon Labs. Its standard dose is 20 mg.")
    (root / "docs" / "blolelquor.txt").write_text("Blolelquor is developed by Marrow Bio. It is taken once a day.")
    indexed = _adaptlab("rag", "index", "docs", "--out", "index", cwd=root)
    assert indexed.stderr == ""
    return root


def test_rag_query_prints_only_its_results(index):
    proc = _adaptlab("rag", "query", "index", "Who develops Blolelquor?", "--k", "2", cwd=index)
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(re.match(r"^\d\. \d\.\d{4}  docs/\S+\.txt  ", line) for line in lines), lines
    verbose = _adaptlab("--verbose", "rag", "query", "index", "Who develops Blolelquor?", "--k", "2", cwd=index)
    assert verbose.stdout == proc.stdout and verbose.stderr  # the quiet run hid something: the libraries' own lines


def test_generate_prints_only_the_continuation(decoder_run, tmp_path):
    from adaptlab.engine.generate import generate
    from adaptlab.engine.requests import GenerationSettings
    from adaptlab.runs import load_model

    proc = _adaptlab("generate", str(decoder_run), "--prompt", "The dose", "--max-new-tokens", "6",
                     "--temperature", "0", cwd=tmp_path)
    assert proc.stderr == ""
    loaded = load_model(decoder_run)
    [expected] = generate(loaded.model, loaded.tokenizer, ["The dose"],
                          GenerationSettings(max_new_tokens=6, temperature=0))
    assert proc.stdout == f"The dose{expected.text}\n"
