"""A freshly initialised tiny decoder saved as a model folder (with the session's tokenizer), a
smaller one to draft for it, a bottleneck-adapter run over it, and a fixture that serves models on a
real uvicorn server."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import one_torch_thread, save_random_model
from serve.harness import running


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(autouse=True)
def _user_data(tmp_path, monkeypatch):
    """The user's data folder (the default feedback database's home) is the test's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))


@pytest.fixture(scope="session")
def model_dir(tokenizer_dir, tmp_path_factory) -> Path:
    """A random 2-layer decoder with a 64-token context: greedy output is deterministic and rarely EOS."""
    from adaptlab.tokenization.train import load_tokenizer

    return save_random_model(load_tokenizer(tokenizer_dir), tmp_path_factory.mktemp("served") / "tiny",
                             layers=2, seed=0)


@pytest.fixture(scope="session")
def draft_dir(tokenizer_dir, model_dir) -> Path:
    """A random 1-layer decoder with the same tokenizer: a draft for `model_dir` that it often overrules."""
    from adaptlab.tokenization.train import load_tokenizer

    return save_random_model(load_tokenizer(tokenizer_dir), model_dir.parent / "draft", layers=1, seed=1)


@pytest.fixture(scope="session")
def draft_lm(draft_dir):
    from adaptlab.lm import HFCausalLM

    return HFCausalLM.from_path(draft_dir)


@pytest.fixture(scope="session")
def adapter_run(model_dir) -> Path:
    """A bottleneck adapter over `model_dir`, moved off the identity: a run folder of kind bottleneck."""
    from adaptlab.adapt.bottleneck import AdapterModel
    from adaptlab.runs import load_model, write_run_manifest

    model = AdapterModel(load_model(model_dir).model)
    model.add_adapter("legal")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.adapters["legal"].parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    run = model_dir.parent / "legal-run"
    model.save_adapter("legal", run / "adapter")
    write_run_manifest(run, family="decoder", model="adapter", kind="bottleneck", base=model_dir)
    return run


@pytest.fixture(scope="session")
def tiny_lm(model_dir):
    from adaptlab.lm import HFCausalLM

    return HFCausalLM.from_path(model_dir)


@pytest.fixture
def serve(tmp_path):
    """`serve(models, **settings)` starts an app over `models` and returns its base URL; every server
    started stops when the test ends."""
    from adaptlab.serve.app import create_app
    from adaptlab.serve.settings import ServeSettings

    with ExitStack() as servers:
        def start(models: dict[str, Any], **settings: Any) -> str:
            config = ServeSettings(**{"feedback_db": tmp_path / "feedback.sqlite3", **settings})
            return servers.enter_context(running(create_app(models, config)))

        yield start
