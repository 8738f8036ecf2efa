"""Adapting a trained base on token shards: full continued pretraining and peft methods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers import tiny_config
from peft import PeftModel
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModelForCausalLM

from adaptlab.adapt.peft_methods.qlora import cpu_packs_nf4, load_4bit, nf4_layers
from adaptlab.config import validate
from adaptlab.corpus.documents import read_documents, split_path
from adaptlab.corpus.prepare import prepare_corpus
from adaptlab.errors import UserError
from adaptlab.lm import HFCausalLM
from adaptlab.runs import load_model, merge_run
from adaptlab.tokenization.shards import encode_corpus
from adaptlab.tokenization.train import load_tokenizer
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig

METHODS = ["full", "lora", "dora", "qlora", "ia3", "prefix", "prompt", "houlsby", "scaled_parallel"]
BOTTLENECK = {"houlsby", "scaled_parallel"}
BOTTLENECK_SITES = {"houlsby": ("attention", "ffn"), "scaled_parallel": ("parallel",)}  # Houlsby 2019; He 2022
# IA3's scales and the virtual tokens of prompt and prefix tuning move little at 1e-2 in 20 steps
LR = {"ia3": 0.3, "prompt": 0.3, "prefix": 0.3}
MIN_GAIN = 0.02  # nats per held-out token that every method must win over the base


def finetune_config(shards, out, base, method: str, **train) -> PretrainConfig:
    cfg = tiny_config(shards, out, steps=20, **{"lr": 1e-2, **train}).model_dump()
    knobs = {"r": 4, "adapter_name": "domain"} if method in BOTTLENECK else \
        {"virtual_tokens": 4} if method in ("prefix", "prompt") else {} if method in ("full", "ia3") else {"r": 4}
    return PretrainConfig(**{**cfg, "base": base, "method": {"name": method, **knobs}})


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits[:, -ids.size(1) :]


@pytest.fixture(scope="module")
def base_run(shards_dir, tmp_path_factory) -> Path:
    """A base trained until its output layer no longer caps what an adapter in its body can change:
    over `decoder_run` (40 steps), training every body weight moves validation loss by under 0.01."""
    out = tmp_path_factory.mktemp("base") / "decoder"
    pretrain(tiny_config(shards_dir, out, steps=150, eval_every=150, checkpoint_every=150), progress=False)
    return out


@pytest.fixture(scope="module")
def qa_corpus(corpus_dir, tokenizer_dir) -> tuple[Path, Path]:
    """The domain's training questions and answers written out as documents (prepared corpus, shards):
    a register the base never read, so what an adapter learns of it shows on held-out documents."""
    root = corpus_dir.parent / "qa"
    rows = [json.loads(line) for line in (corpus_dir.parent / "synth" / "qa_train.jsonl").read_text().splitlines()]
    (root / "docs").mkdir(parents=True)
    for i in range(0, len(rows), 6):
        text = "\n".join(f"Question: {r['question']}\nAnswer: {r['answer']}." for r in rows[i : i + 6])
        (root / "docs" / f"qa{i:03d}.txt").write_text(text)
    prepare_corpus([root / "docs"], root / "corpus", validation_fraction=0.2)
    encode_corpus(root / "corpus", load_tokenizer(tokenizer_dir), root / "shards", progress=False)
    return root / "corpus", root / "shards"


@pytest.fixture(scope="module")
def runs(base_run, qa_corpus, tmp_path_factory):
    root, shards = tmp_path_factory.mktemp("finetune"), qa_corpus[1]
    return {m: (pretrain(finetune_config(shards, root / m, base_run, m, lr=LR.get(m, 1e-2)), progress=False),
                root / m) for m in METHODS}


def _nll_per_token(path: Path, texts: list[str]) -> float:
    """Mean negative log-likelihood per token of `texts` under the LM loaded from `path`."""
    lm = HFCausalLM.from_path(path)
    tokens = sum(n for text in texts for _, n in lm.rolling_windows(text))
    return -sum(lm.loglikelihood_rolling(texts)) / tokens


@pytest.fixture(scope="module")
def held_out(qa_corpus, base_run) -> tuple[list[str], float]:
    """The adaptation corpus's validation documents and the base's loss on them, scored through the
    LM interface rather than the training loop's own evaluation."""
    texts = [doc.text for doc in read_documents(split_path(qa_corpus[0], "validation"))]
    return texts, _nll_per_token(base_run, texts)


def _bottleneck_by_hand(base_dir: Path, adapter_dir: Path) -> nn.Module:
    """The base with a bottleneck artifact applied from its files alone, not adaptlab's loader: at each
    `layer<i>_<site>` key, scale * up(act(down(x))) is added to the attention or FFN output, or beside
    the FFN from its input (parallel), as the YAML's kind says."""
    config = yaml.safe_load((adapter_dir / "adapter.yaml").read_text())["config"]
    weights = load_file(str(adapter_dir / "adapter.safetensors"))
    act = {"relu": torch.relu, "gelu": nn.functional.gelu, "silu": nn.functional.silu}[config["activation"]]
    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()

    def hook(key: str, beside: bool):
        def add(module, args, output):
            first = output[0] if isinstance(output, tuple) else output
            x = args[0] if beside else first
            down = act(x @ weights[f"{key}.down.weight"].T + weights[f"{key}.down.bias"])
            first = first + config["scaling"] * (down @ weights[f"{key}.up.weight"].T + weights[f"{key}.up.bias"])
            return (first, *output[1:]) if isinstance(output, tuple) else first
        return add

    expected = set()
    for i, layer in enumerate(model.model.layers):
        modules = {"attention": (layer.self_attn, False), "ffn": (layer.mlp, False), "parallel": (layer.mlp, True)}
        for site in BOTTLENECK_SITES[config["kind"]]:
            module, beside = modules[site]
            module.register_forward_hook(hook(f"layer{i}_{site}", beside))
            expected.add(f"layer{i}_{site}")
    assert {key.split(".")[0] for key in weights} == expected  # every saved tensor is applied
    return model


@pytest.mark.parametrize("method", METHODS)
def test_each_method_lowers_validation_loss_and_reloads_without_adaptlab(method, runs, base_run, held_out):
    result, run = runs[method]
    texts, base_nll = held_out
    adapted_nll = _nll_per_token(run, texts)
    assert adapted_nll < base_nll - MIN_GAIN, (method, base_nll, adapted_nll)

    cost = json.loads((run / "cost.json").read_text())
    assert cost["trainable_parameters"] == result.trainable_parameters and cost["artifact_bytes"] > 0
    if method == "full":
        assert cost["trainable_share"] == 1.0
        plain = AutoModelForCausalLM.from_pretrained(run / "model").eval()
    elif method in BOTTLENECK:  # adaptlab's own format: safetensors + YAML, applied here by hand
        assert 0 < cost["trainable_share"] < 0.1
        assert {p.name for p in (run / "model").iterdir()} >= {"adapter.safetensors", "adapter.yaml"}
        plain = _bottleneck_by_hand(base_run / "model", run / "model")
    elif method == "qlora":  # the adapter was trained over an NF4 base; it reloads over the same
        assert 0 < cost["trainable_share"] < 0.1
        assert "Linear4bit" in {type(m).__name__ for m in load_model(run).model.modules()}
        narrow = sorted(nf4_layers(load_4bit(base_run / "model"))) if cpu_packs_nf4() else []
        assert cost["nf4_generic_path_layers"] == narrow  # 32 wide: none fits bitsandbytes' packed kernel
        base = load_4bit(base_run / "model")
        plain = PeftModel.from_pretrained(base, run / "model").eval()
    else:
        assert 0 < cost["trainable_share"] < 0.1
        base = AutoModelForCausalLM.from_pretrained(base_run / "model")
        plain = PeftModel.from_pretrained(base, run / "model").eval()
        assert not (run / "model" / "config.json").exists()  # the artifact is the adapter alone
    ids = torch.tensor([[3, 40, 41, 42, 43, 44]])
    ours = load_model(run).model
    if method in BOTTLENECK:  # the same sums in another order
        torch.testing.assert_close(_logits(plain, ids), _logits(ours, ids), atol=1e-5, rtol=1e-5)
    else:
        assert torch.equal(_logits(plain, ids), _logits(ours, ids))
    assert not torch.equal(_logits(ours, ids), _logits(load_model(base_run).model, ids))  # the adapter trained
    if method not in ("full", "qlora"):  # ... and the base under it did not (NF4 weights compare differently)
        under = ours.base if method in BOTTLENECK else ours.get_base_model()
        frozen = {k.replace(".base_layer", ""): v for k, v in under.state_dict().items()}
        for key, value in load_model(base_run).model.state_dict().items():
            assert torch.equal(frozen[key], value), key


def test_qlora_counts_the_base_as_the_same_model(runs):
    lora, qlora = runs["lora"][0], runs["qlora"][0]
    assert (qlora.parameters, qlora.trainable_parameters) == (lora.parameters, lora.trainable_parameters)


def test_lora_merges_into_a_plain_model_with_the_same_outputs(runs, tmp_path):
    _, run = runs["lora"]
    merge_run(run, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / "model").eval()
    ids = torch.tensor([[3, 40, 41, 42, 43, 44]])
    torch.testing.assert_close(_logits(merged, ids), _logits(load_model(run).model, ids), atol=1e-5, rtol=1e-5)
    with pytest.raises(UserError, match="only LoRA/DoRA adapters merge"):
        merge_run(runs["ia3"][1], tmp_path / "ia3-merged")


def test_bad_adapter_settings_are_named(decoder_run, shards_dir, tmp_path):
    cfg = finetune_config(shards_dir, tmp_path / "a", decoder_run, "lora").model_dump()
    with pytest.raises(UserError, match=r"unknown module 'qproj'; valid: .*q_proj"):
        pretrain(PretrainConfig(**{**cfg, "method": {"name": "lora", "target_modules": ["qproj"]}}), progress=False)
    with pytest.raises(UserError, match=r"method.r 64 is larger than layer .*q_proj \(32x32\); use r <= 32"):
        pretrain(PretrainConfig(**{**cfg, "out": tmp_path / "b", "method": {"name": "lora", "r": 64,
                                                                            "target_modules": ["q_proj"]}}),
                 progress=False)
    with pytest.raises(UserError, match="method lora trains an adapter on a base: set base"):
        validate(PretrainConfig, {**cfg, "base": None, "method": "lora"})


def test_adapter_checkpoints_hold_only_the_adapter_and_resume_exactly(decoder_run, shards_dir, tmp_path):
    straight = pretrain(finetune_config(shards_dir, tmp_path / "straight", decoder_run, "lora"), progress=False)

    def crash(step: int) -> None:
        if step == 15:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        pretrain(finetune_config(shards_dir, tmp_path / "resumed", decoder_run, "lora"), progress=False, on_step=crash)
    saved = load_file(str(tmp_path / "resumed" / "checkpoint" / "model.safetensors"))
    assert saved and all("lora_" in key for key in saved)
    resumed = pretrain(finetune_config(shards_dir, tmp_path / "resumed", decoder_run, "lora"), progress=False,
                       resume=True)
    assert resumed.history[-1]["val_loss"] == straight.history[-1]["val_loss"]
    a = load_file(str(tmp_path / "straight" / "model" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_qlora_run_generates_after_reload_as_its_model_scores(runs):
    """Generation over the NF4 base takes the path chosen for each layer on this CPU and agrees with scoring."""
    from adaptlab.lm import HFCausalLM

    lm = HFCausalLM.from_path(runs["qlora"][1])
    [text] = lm.generate_until([("The", {"until": [], "max_gen_toks": 6, "do_sample": False})])
    [(_, greedy)] = lm.loglikelihood([("The", text)])
    assert text and greedy  # the generated continuation is the model's own argmax at every step
