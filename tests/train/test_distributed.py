"""torchrun with 2 processes on gloo: DDP (and FSDP2) match one process with the same global batch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from adaptlab.train.loop import pretrain
from helpers import tiny_config

STEPS = 10


def _torchrun(cfg_path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "adaptlab", "pretrain", "--config", str(cfg_path), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def single_process_run(shards_dir, tmp_path_factory):
    """One process, micro-batch 4 with 2 accumulation steps: a global batch of 8."""
    out = tmp_path_factory.mktemp("single") / "run"
    pretrain(tiny_config(shards_dir, out, steps=STEPS, batch_size=4, grad_accum=2, eval_every=5), progress=False)
    return out


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_process_run_matches_single_process(mode, single_process_run, shards_dir, tmp_path):
    cfg = tiny_config(shards_dir, tmp_path / "run", steps=STEPS, batch_size=4, grad_accum=1, eval_every=5,
                      fsdp=mode == "fsdp")
    cfg_path = tmp_path / "pretrain.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    proc = _torchrun(cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single, parallel = _weights(single_process_run), _weights(tmp_path / "run")
    assert single.keys() == parallel.keys()
    for key in single:
        torch.testing.assert_close(parallel[key], single[key], atol=2e-5, rtol=1e-4, msg=key)
    records = [yaml.safe_load(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [5, 10]  # one writer: rank 0


@pytest.mark.parametrize("omp, expected", [("1", 1), ("", None)])
def test_a_single_process_keeps_the_threads_it_was_given(monkeypatch, omp, expected):
    import os

    from adaptlab.train.distributed import init_distributed

    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    if omp:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    before = torch.get_num_threads()
    try:
        init_distributed("cpu")
        assert torch.get_num_threads() == (expected or max(1, os.cpu_count() or 1))
    finally:
        torch.set_num_threads(before)
