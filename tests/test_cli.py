"""The command line end to end, and its one-line errors for a user's mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import TINY_MODEL, TINY_TRAIN
from typer.testing import CliRunner

from adaptlab.cli import app

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _figures(out: str) -> dict[str, str]:
    """The `key: value` lines a command printed."""
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def _steps(run: Path) -> list[int]:
    """The steps of the run's logged evaluations, in the order metrics.jsonl holds them."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [row["step"] for row in rows if "val_loss" in row]


def _scored(run: Path, source: str) -> dict:
    """One section of the run's eval.json."""
    return json.loads((run / "eval.json").read_text())[source]


def test_pipeline_from_folder_to_samples(tmp_path):
    """Each command's output is checked against what it wrote (or against the same thing computed
    through the library), not against the arguments it was given."""
    from transformers import AutoModelForCausalLM

    from adaptlab.corpus.documents import read_documents
    from adaptlab.engine.generate import generate
    from adaptlab.engine.requests import GenerationSettings
    from adaptlab.lm import HFCausalLM
    from adaptlab.runs import load_model
    from adaptlab.tokenization.shards import read_meta
    from adaptlab.tokenization.train import load_tokenizer

    _ok("corpus", "synth", "--out", str(tmp_path / "synth"), "--compounds", "12")
    corpus = tmp_path / "corpus"
    out = _ok("corpus", "prepare", str(tmp_path / "synth" / "docs"), "--out", str(corpus),
              "--validation-fraction", "0.2")
    docs = {split: list(read_documents(corpus / f"{split}.jsonl")) for split in ("train", "validation")}
    assert docs["train"] and docs["validation"]
    assert all(f"{len(d)} documents" in out for d in docs.values()), out
    _ok("tokenizer", "train", str(corpus), "--out", str(tmp_path / "tok"), "--vocab-size", "400")
    out = _ok("tokenize", str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(tmp_path / "shards"))
    for split, info in read_meta(tmp_path / "shards")["splits"].items():
        assert f"{split}: {info['documents']} documents, {info['tokens']:,} tokens" in out
        assert info["documents"] == len(docs[split])
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": TINY_MODEL, "train": {**TINY_TRAIN, "steps": 12}}))
    run = tmp_path / "run"
    out = _ok("pretrain", "--config", str(config), "--data", str(tmp_path / "shards"), "--out", str(run),
              "--eval-every", "6")
    validation = _scored(run, "validation")
    assert f"step 12 (completed): train_loss {validation['train_loss']:.4f}" in out
    assert f"val_bits_per_byte {validation['val_bits_per_byte']:.4f}" in out
    assert _steps(run) == [6, 12]
    before = (run / "model" / "model.safetensors").read_bytes()
    # --resume reads the run's own settings; raising --steps continues training.
    out = _ok("pretrain", "--out", str(run), "--resume", "--steps", "14")
    assert _steps(run) == [6, 12, 14] and (run / "model" / "model.safetensors").read_bytes() != before
    assert f"val_loss {_scored(run, 'validation')['val_loss']:.4f}" in out
    for method in ("lora", "pfeiffer"):
        adapted = tmp_path / method
        out = _ok("finetune", "--base", str(run), "--data", str(tmp_path / "shards"), "--out", str(adapted),
                  "--method", method, "--r", "4", "--steps", "4", "--eval-every", "2", "--seq-len", "32",
                  "--batch-size", "4")
        assert _steps(adapted) == [2, 4]
        cost = json.loads((adapted / "cost.json").read_text())
        assert f"({cost['trainable_parameters']:,} trained" in out and 0 < cost["trainable_share"] < 0.1
        if method == "lora":
            settings = json.loads((adapted / "model" / "adapter_config.json").read_text())
            assert (settings["peft_type"], settings["r"]) == ("LORA", 4)
        else:
            settings = yaml.safe_load((adapted / "model" / "adapter.yaml").read_text())["config"]
            assert (settings["kind"], settings["r"]) == ("pfeiffer", 4)
        figures = _figures(_ok("eval", str(adapted), "--corpus", str(corpus)))
        assert figures["documents"] == str(len(docs["validation"]))
        assert figures["bits_per_byte"] == f"{_scored(adapted, f'{corpus}:validation')['bits_per_byte']:.4f}"
    _ok("merge", str(tmp_path / "lora"), "--out", str(tmp_path / "merged"))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / "model").eval()
    ids = torch.tensor([[3, 40, 41, 42, 43]])
    with torch.no_grad():
        lora = load_model(tmp_path / "lora").model(input_ids=ids).logits
        torch.testing.assert_close(merged(input_ids=ids).logits, lora, atol=1e-5, rtol=1e-5)
    out = _ok("tokenizer", "extend", str(run), "--corpus", str(corpus), "--out", str(tmp_path / "ext"),
              "--min-count", "2")
    extended = load_tokenizer(tmp_path / "ext" / "model")
    assert len(extended) > len(load_tokenizer(run / "model"))
    assert load_model(tmp_path / "ext").model.get_input_embeddings().num_embeddings == len(extended)
    prompt = "[b] The compound"  # printed as written: brackets are not console markup
    out = _ok("generate", str(run), "--prompt", prompt, "--max-new-tokens", "5", "--seed", "1")
    loaded = load_model(run)
    sampled = generate(loaded.model, loaded.tokenizer, [prompt],
                       GenerationSettings(max_new_tokens=5, temperature=0.8, seed=1))[0].text
    assert sampled.strip() and out == f"{prompt}{sampled}\n"
    figures = _figures(_ok("eval", str(run), "--corpus", str(corpus)))
    assert figures["bits_per_byte"] == f"{_scored(run, f'{corpus}:validation')['bits_per_byte']:.4f}"
    # A plain Hugging Face checkpoint folder works too (and has no eval.json to write).
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("The standard dose of the compound is taken twice a day.")
    figures = _figures(_ok("eval", str(run / "model"), "--text", str(held_out)))
    lm = HFCausalLM.from_path(run / "model")
    [total] = lm.loglikelihood_rolling([held_out.read_text()])
    assert figures["loss"] == f"{-total / len(lm.encode(held_out.read_text())):.4f}" and figures["bytes"] == "55"
    assert not (run / "model" / "eval.json").exists()


def _cli_error(*args: str, cwd=None) -> str:
    proc = subprocess.run([sys.executable, "-m", "adaptlab", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(("setup", "args", "expected"), [
    ({"bad.yaml": "train:\n  stepz: 3\n"}, ["pretrain", "--config", "bad.yaml", "--data", "s", "--out", "o"],
     "unknown field 'train.stepz' (did you mean 'steps'?); accepted: steps, batch_size"),
    ({"bad.yaml": "model:\n  size: 7m\n"}, ["pretrain", "--config", "bad.yaml", "--data", "s", "--out", "o"],
     "model.size: Input should be '1m', '10m', '30m' or '100m'"),
    ({"empty/.keep": ""}, ["corpus", "prepare", "empty", "--out", "c"], "no readable documents in empty (accepted: .txt, .md, .jsonl)"),
    ({}, ["generate", "missing-run"], "missing-run: no such run or model folder"),
    ({}, ["eval", "."], "give exactly one of --text FILE, --corpus DIR, or --qa / --instructions FILE"),
    ({"empty.txt": "\n"}, ["eval", ".", "--text", "empty.txt"], "empty.txt: no text to score"),
    ({}, ["pretrain", "--data", "nowhere", "--out", "o"], "nowhere"),
    ({"bad.yaml": "- a list\n"}, ["pretrain", "--config", "bad.yaml"], "expected a mapping of settings"),
    ({}, ["finetune", "--data", "s", "--out", "o", "--method", "lora"], "finetune starts from a base: pass --base"),
    ({}, ["corpus", "prepare", "x", "--out", "c", "--validation-fraction", "1.5"], "validation_fraction=1.5"),
    # a folder where a YAML file goes
    ({"d/.keep": ""}, ["pretrain", "--config", "d"], "d: is a folder; give a YAML file"),
    ({"d/.keep": ""}, ["pipeline", "run", "d", "x"], "d: is a folder; give a YAML file"),
    ({"d/.keep": ""}, ["study", "run", "d"], "d: is a folder; give a YAML file"),
    # a file where an output folder goes
    ({"f": "x"}, ["pretrain", "--data", "s", "--out", "f"], "f: is a file; give a folder for the run"),
    ({"f": "x"}, ["study", "run", "--out", "f"], "f: is a file; give a folder for the study"),
    ({"f": "x"}, ["quickstart", "--out", "f"], "f: is a file; give a folder for the quickstart's work"),
    ({}, ["prompt", "ask", ".", "Q?", "--max-gen-toks", "-1"],
     "Invalid value for '--max-gen-toks': Input should be greater than or equal to 1 (got -1)"),
    # a broken run folder
    ({"run/adaptlab.yaml": "kind: [hf\n"}, ["generate", "run"], "run/adaptlab.yaml: not valid YAML"),
    ({"run/adaptlab.yaml": "kind: hf\nfamily: decoder\nmodel: model\n", "run/model/config.json": "{}",
      "run/model/model.safetensors": "not weights"}, ["generate", "run"],
     "run/model/model.safetensors: not a readable safetensors file"),
    ({"p.yaml": "stages:\n  - {name: parse, function: 'json:loads'}\n"}, ["pipeline", "run", "p.yaml", "no json"],
     "stage 'parse' failed: JSONDecodeError: Expecting value"),
    ({"lora/adaptlab.yaml": "kind: peft\nfamily: decoder\nmodel: model\nbase: /runs/base\n"},
     ["finetune", "--base", "lora", "--data", "s", "--out", "o"],
     "--base lora: a peft adapter run, not a full model; start from its base (/runs/base), or merge it first"),
    ({"s.yaml": "base: {run: nowhere}\n"}, ["study", "run", "s.yaml", "--out", "o"],
     "s.yaml: base.run: nowhere: no such run or model folder"),
    # options the method (or the setting) would silently ignore
    ({}, ["finetune", "--base", "b", "--data", "s", "--out", "o", "--method", "full", "--r", "8"],
     "--r: not used by --method full (--r applies to lora, dora"),
    ({}, ["finetune", "--base", "b", "--data", "s", "--out", "o", "--method", "lora", "--virtual-tokens", "8"],
     "--virtual-tokens: not used by --method lora (--virtual-tokens applies to prefix, prompt)"),
    ({"b/config.json": '{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}'},
     ["finetune", "--base", "b", "--data", "s", "--out", "o", "--family", "encoder"],
     "--family encoder: base b is a decoder; a run from a base keeps its family"),
    ({}, ["pretrain", "--data", "s", "--out", "o", "--fsdp"], "--fsdp (train.fsdp) shards the model across torchrun's"),
    ({"data.jsonl": '{"text": "fine"}\n{not json\n'}, ["corpus", "prepare", "data.jsonl", "--out", "c"],
     "data.jsonl:2: not valid JSON"),
    ({"o/.keep": ""}, ["pretrain", "--out", "o", "--resume"], "o: no run to resume (no pretrain.yaml)"),
    ({}, ["finetune", "--base", "b", "--data", "s", "--out", "o", "--method", "BAD"],
     "--method 'BAD': unknown; accepted: full, lora, dora, qlora, ia3, prefix, prompt, houlsby, pfeiffer, parallel, "
     "scaled_parallel"),
    # click's own usage errors
    ({}, ["rag", "query", "ix", "q", "--k", "0"], "Invalid value for '--k': Input should be greater than or equal to 1"),
    ({}, ["pretrain", "--bogus"], "No such option: --bogus"),
    ({}, ["generate"], "Missing argument 'path'."),
])
def test_user_mistakes_get_one_line_and_exit_code_2(tmp_path, setup, args, expected):
    for name, content in setup.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    before = sorted(tmp_path.rglob("*"))
    assert expected in _cli_error(*args, cwd=tmp_path)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, nothing left behind


def test_help_is_not_an_error():
    proc = subprocess.run([sys.executable, "-m", "adaptlab", "rag", "query", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--k" in proc.stdout and not proc.stderr.strip()
