"""The CUDA path, exercised and timed: bf16 autocast against fp32 training, adapters and
generation on the GPU. CI never has a GPU; this is run by hand on a machine that has one.

What it does (all on the synthetic domain, tokenizer trained here)
    1. The machine's bf16 and fp32 matmul peaks (8192^3 products), the yardstick for MFU.
    2. Pretrains the same decoder preset twice, fp32 and `auto` precision (bf16 autocast
       where native), and with --compile a third time (bf16, torch.compile): tokens/s
       overall and steady (median of the logged windows after the first), MFU of the
       steady rate against the matching peak, validation loss of each.
    3. LoRA and a Houlsby bottleneck adapter on that base, on the GPU, under bf16 autocast.
    4. Greedy generation on the GPU with and without the KV cache: decode tokens/s.

Usage
    python benchmarks/gpu.py [--size 100m] [--steps 200] [--batch-size 16] [--compile] [--json out.json]
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from adaptlab.corpus.prepare import prepare_corpus
from adaptlab.corpus.synth import synthesize
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.runs import load_model
from adaptlab.tokenization.shards import encode_corpus
from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig


def matmul_peak(dtype: torch.dtype, n: int = 8192, reps: int = 10) -> float:
    """FLOP/s of an n^3 product on the GPU (mean of `reps` after warm-up)."""
    a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def train(shards: Path, out: Path, size: str, steps: int, precision: str, batch_size: int = 16,
          compile: bool = False, **extra: Any) -> dict[str, Any]:
    train_settings = {"steps": steps, "batch_size": batch_size, "seq_len": 512, "lr": 6e-4, "min_lr": 6e-5,
                      "warmup_steps": 20, "eval_every": steps, "eval_batches": 10, "checkpoint_every": steps,
                      "precision": precision, "compile": compile}
    cfg = PretrainConfig(data=shards, out=out, model={"size": size, "max_seq_len": 512}, train=train_settings,
                         **extra)
    torch.cuda.reset_peak_memory_stats()
    result = pretrain(cfg, progress=False)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    windows = [r["tokens_per_second"] for r in logged if "tokens_per_second" in r][1:]  # past warm-up/compile
    return {"tokens_per_second": result.tokens_per_second, "steady_tokens_per_second": statistics.median(windows),
            "val_loss": result.metrics.get("val_loss"),
            "parameters": result.parameters, "trainable_parameters": result.trainable_parameters,
            "peak_gpu_gb": torch.cuda.max_memory_allocated() / 1e9, "wall_seconds": result.wall_seconds}


def decode_speed(run: Path, use_cache: bool, new_tokens: int = 256, batch: int = 8) -> float:
    loaded = load_model(run, device="cuda")
    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0, use_cache=use_cache)
    prompts = ["Blolelquor is given at"] * batch
    generate(loaded.model, loaded.tokenizer, prompts, GenerationSettings(max_new_tokens=8, temperature=0))
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = generate(loaded.model, loaded.tokenizer, prompts, settings)
    torch.cuda.synchronize()
    return sum(len(g.tokens) for g in out) / (time.perf_counter() - start)


def main(
    size: Annotated[str, typer.Option(help="model preset")] = "100m",
    steps: Annotated[int, typer.Option(help="pretraining steps per precision")] = 200,
    adapter_steps: Annotated[int, typer.Option(help="steps of each adapter run")] = 100,
    batch_size: Annotated[int, typer.Option(help="sequences of 512 tokens per step")] = 16,
    compile: Annotated[bool, typer.Option(help="also pretrain bf16 under torch.compile")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON")] = None,
) -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark exercises the GPU path")
    work = Path(tempfile.mkdtemp(prefix="adaptlab-gpu-"))
    figures: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                               "peak_tflops": {"bf16": matmul_peak(torch.bfloat16) / 1e12,
                                               "fp32": matmul_peak(torch.float32) / 1e12}}
    print(json.dumps(figures), flush=True)
    synthesize(work / "synth", seed=0)
    prepare_corpus([work / "synth" / "docs"], work / "corpus")
    tokenizer = train_tokenizer(iter_corpus_texts(work / "corpus"), "bpe", 4096, work / "tokenizer",
                                show_progress=False)
    encode_corpus(work / "corpus", tokenizer, work / "shards", progress=False)

    runs = [("fp32", False), ("auto", False)] + ([("auto", True)] if compile else [])
    for precision, compiled in runs:
        name = f"{precision}{'-compiled' if compiled else ''}"
        r = train(work / "shards", work / f"base-{name}", size, steps, precision, batch_size, compiled)
        flops_per_token = 6 * r["parameters"]  # nanoGPT's estimate; attention's share left out
        peak = figures["peak_tflops"]["bf16" if precision == "auto" else "fp32"] * 1e12
        r["mfu"] = r["steady_tokens_per_second"] * flops_per_token / peak
        figures[f"pretrain_{name}"] = r
        print(name, json.dumps(r), flush=True)
    base = work / "base-auto"
    figures["lora"] = train(work / "shards", work / "lora", size, adapter_steps, "auto", base=base,
                            method={"name": "lora", "r": 16})
    print("lora", json.dumps(figures["lora"]), flush=True)
    figures["houlsby"] = train(work / "shards", work / "houlsby", size, adapter_steps, "auto", base=base,
                               method={"name": "houlsby", "r": 64})
    print("houlsby", json.dumps(figures["houlsby"]), flush=True)
    figures["decode_tokens_per_second"] = {"kv_cache": decode_speed(base, True),
                                           "no_cache": decode_speed(base, False)}
    print(json.dumps(figures["decode_tokens_per_second"]), flush=True)
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
