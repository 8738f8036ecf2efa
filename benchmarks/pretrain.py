"""nanoGPT's CPU shakespeare-char run, reproduced through adaptlab's own training stack.

What it does
    Trains a character-level tokenizer on tinyshakespeare (65 characters + 21 specials),
    splits the text 90/10 by position as nanoGPT does, encodes both splits into token
    shards and pretrains a 4-layer, 128-wide, 4-head decoder (Llama-style, SwiGLU ffn 344,
    the same FLOPs as GPT-2's 4x MLP) with nanoGPT's recipe: 2000 steps of 12 x 64 tokens,
    lr 1e-3 -> 1e-4 cosine after 100 warmup steps, weight decay 0.1, beta2 0.99, clip 1.0,
    validation loss over 200 batches every 500 steps. It also measures this machine's fp32
    matmul peak (square matmuls, before and after training, best of both).

How to read it
    - tokens/s is the median of the loop's per-log-window figures (training only), the
      first window (warm-up, compilation) left out; evaluation and checkpoints are not
      counted. ms/iter = tokens per step / tokens/s.
    - MFU = model FLOPs per token x tokens/s / measured peak, with nanoGPT's estimate
      (PaLM appendix B): 6N + 12 L H Q T, N = parameters except the input embedding.
    - The machine is shared and noisy: the fair figure is the in-run baseline — nanoGPT's
      model and step (nanogpt_reference.py) timed beside adaptlab's on the same batches,
      alternating short rounds in this process. MFU against each run's own peak is the
      comparison with nanoGPT's published-here figures.
    - Figures are printed, never asserted.

    - Precision: `--precision fp32 --precision bf16 --precision auto` trains the configuration once
      per precision and prints the CPU's flags, tokens/s, its ratio to the fp32 run, the final
      validation loss, what `auto` chose and why, and the bf16/fp32 step-speed ratio of the
      same model alternated in this process (the fair ratio; whole runs follow one another).
      `--size 10m` uses the 10m preset (256 wide, 8 layers, 256-token windows) instead.

Usage (from the repo root)
    .venv/bin/python benchmarks/pretrain.py [--iters 2000] [--compile] [--json out.json]
    .venv/bin/python benchmarks/pretrain.py --size nanogpt --size 10m --iters 300 \
        --precision fp32 --precision bf16 --precision auto
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.console import Console
from rich.table import Table

from adaptlab.corpus.documents import Document, write_documents
from adaptlab.models.presets import ModelConfig, SpecialIds, build_model, count_parameters
from adaptlab.tokenization.shards import encode_corpus, load_split
from adaptlab.tokenization.train import train_tokenizer
from adaptlab.train.distributed import init_distributed
from adaptlab.train.batches import TokenWindows, step_generator
from adaptlab.train.loop import RunResult, make_optimizer, pretrain
from adaptlab.train.objectives import CausalLM
from adaptlab.train.metrics import read_metrics
from adaptlab.train.precision import (REQUESTS, PrecisionChoice, attention_for, autocast, cpu_flags,
                                      measure_bf16_speedup)
from adaptlab.train.settings import PretrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import nanogpt_reference as nanogpt  # noqa: E402  (the in-run baseline beside this script)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"

MODEL = {"family": "decoder", "hidden_size": 128, "num_layers": 4, "num_heads": 4, "max_seq_len": 64, "dropout": 0.0}
TRAIN = {
    "batch_size": 12, "seq_len": 64, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100, "weight_decay": 0.1,
    "beta2": 0.99, "grad_clip": 1.0, "eval_batches": 200, "checkpoint_every": 10_000, "log_every": 50,
    "seed": 1337,
}
# --size: nanoGPT's configuration, or the 10m preset (256 wide, 8 layers) on 256-token windows.
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "nanogpt": (MODEL, {}),
    "10m": ({"family": "decoder", "size": "10m", "max_seq_len": 256, "dropout": 0.0},
            {"seq_len": 256, "eval_batches": 50}),
}
PEAK_SIZES = (1024, 1536, 2048)


@dataclass(frozen=True)
class Reference:
    """nanoGPT's figures for this configuration, measured on a machine like this one."""

    mode: str
    ms_per_iter: float
    tokens_per_second: float
    mfu: float


NANOGPT = {False: Reference("eager", 61.8, 12_400, 0.39), True: Reference("torch.compile", 55.9, 13_700, 0.44)}
NANOGPT_PEAK_GFLOPS = 150.0
NANOGPT_VAL_LOSS = 1.88  # published, at step 2000
NANOGPT_VAL_LOSS_HERE = 1.886  # its own train.py, rerun on this machine


# --- data ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedData:
    shards: Path
    meta: dict[str, Any]  # the shards' meta.json: vocab size, tokens and bytes per split
    special_ids: SpecialIds


def prepare_shards(text_path: Path, workdir: Path) -> PreparedData:
    """Char tokenizer over the whole text, 90/10 positional split, token shards of both splits."""
    text = text_path.read_text(encoding="utf-8")
    tok_dir, corpus_dir, shards_dir = workdir / "tokenizer", workdir / "corpus", workdir / "shards"
    tokenizer = train_tokenizer([text], "char", vocab_size=1000, out_dir=tok_dir.resolve())
    cut = int(len(text) * 0.9)
    for split, part in (("train", text[:cut]), ("validation", text[cut:])):
        write_documents(corpus_dir / f"{split}.jsonl", [Document(id=f"tinyshakespeare-{split}", text=part)])
    meta = encode_corpus(corpus_dir, tokenizer, shards_dir, progress=False)
    ids = SpecialIds(pad=tokenizer.pad_token_id, bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)
    return PreparedData(shards_dir, meta, ids)


# --- peak ---------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(n: int, device: torch.device, warmup: int = 2, reps: int = 5) -> float:
    """Best-of-`reps` fp32 GFLOP/s of an n x n matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    for _ in range(warmup):
        torch.mm(a, b, out=out)
    _sync(device)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure_peak(device: torch.device) -> float:
    return max(matmul_gflops(n, device) for n in PEAK_SIZES)


# --- model FLOPs --------------------------------------------------------------------
@dataclass(frozen=True)
class FlopsEstimate:
    parameters: int  # all of them
    non_embedding: int  # N: all but the input embedding table (the output head stays: it is a matmul)
    per_token: float  # 6N + 12 L H Q T


def model_flops(model_cfg: ModelConfig, vocab_size: int, ids: SpecialIds, seq_len: int) -> FlopsEstimate:
    model = build_model(model_cfg, vocab_size, ids)
    total = count_parameters(model)
    embedding = model.get_input_embeddings().weight
    tied = embedding is model.get_output_embeddings().weight
    n = total if tied else total - embedding.numel()  # tied: the shared table is the head, as in nanoGPT
    head_dim = model_cfg.hidden // model_cfg.heads
    per_token = 6 * n + 12 * model_cfg.layers * model_cfg.heads * head_dim * seq_len
    return FlopsEstimate(total, n, float(per_token))


# --- in-run baseline -----------------------------------------------------------------
def _timed(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n * 1000


def interleaved_step_times(cfg: PretrainConfig, prepared: PreparedData, use_compile: bool, rounds: int = 7,
                           steps: int = 25) -> dict[str, float]:
    """Median ms per training step of adaptlab's model and of nanoGPT's, alternated in this process.

    All train on the same real batches with their own optimizer set-up; alternating
    short rounds puts them under the same machine noise, so their ratios are fair.
    nanoGPT is timed eager (its documented CPU recipe, --compile=False) and, when this
    run compiles, compiled too.
    """
    tc = cfg.train
    windows = TokenWindows(load_split(prepared.shards, "train"), tc.seq_len + 1)
    batch = windows.sample(tc.batch_size, step_generator(tc.seed, 0))
    ours = build_model(cfg.model, prepared.meta["vocab_size"], prepared.special_ids)
    ours_opt = make_optimizer(ours, tc, torch.device("cpu"))
    ours_fwd = torch.compile(ours) if use_compile else ours
    objective = CausalLM()
    inputs = objective.make_batch(batch, step_generator(tc.seed, 0))

    def ours_step() -> None:
        objective.loss(ours_fwd, inputs).backward()
        torch.nn.utils.clip_grad_norm_(ours.parameters(), tc.grad_clip)
        ours_opt.step()
        ours_opt.zero_grad(set_to_none=True)

    first_char = int(batch.min())  # characters follow the specials: shift them to nanoGPT's 0-based ids
    shifted = batch - first_char
    x, y = shifted[:, :-1].contiguous(), shifted[:, 1:].contiguous()  # as nanoGPT's get_batch stacks them

    def nanogpt_step(compiled: bool):
        model = nanogpt.GPT(prepared.meta["vocab_size"] - first_char, tc.seq_len, cfg.model.layers,
                            cfg.model.heads, cfg.model.hidden)
        opt = nanogpt.configure_optimizer(model, tc.weight_decay, tc.lr, (tc.beta1, tc.beta2))
        fwd = torch.compile(model) if compiled else model
        return lambda: nanogpt.train_step(fwd, opt, x, y, tc.grad_clip)

    contenders = {"adaptlab": ours_step, "nanogpt_eager": nanogpt_step(False)}
    if use_compile:
        contenders["nanogpt_compiled"] = nanogpt_step(True)
    for step in contenders.values():
        _timed(step, 10)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, step in contenders.items():
            times[name].append(_timed(step, steps))
    return {name: statistics.median(values) for name, values in times.items()}


# --- run ----------------------------------------------------------------------------
def make_config(shards: Path, run_dir: Path, iters: int, eval_every: int, use_compile: bool, size: str = "nanogpt",
                precision: str = "fp32") -> PretrainConfig:
    model, overrides = SIZES[size]
    train = {**TRAIN, **overrides, "steps": iters, "eval_every": min(eval_every, iters), "compile": use_compile,
             "precision": precision}
    return PretrainConfig(data=shards, out=run_dir, model=model, train=train)


def alternated_bf16_speedup(cfg: PretrainConfig, prepared: PreparedData) -> float:
    """fp32 / bf16-autocast step time of this configuration's model and step, alternated in this process
    (the loop's own measurement with a longer budget): the fair ratio on a shared machine."""
    tc = cfg.train
    windows = TokenWindows(load_split(prepared.shards, "train"), tc.seq_len + 1)
    objective = CausalLM()
    inputs = objective.make_batch(windows.sample(tc.batch_size, step_generator(tc.seed, 0)), step_generator(tc.seed, 0))
    model = build_model(cfg.model, prepared.meta["vocab_size"], prepared.special_ids).train()
    optimizer = make_optimizer(model, tc, torch.device("cpu"))

    def step(dtype: torch.dtype | None) -> None:
        attention_for(model, torch.device("cpu"), dtype)  # as the loop trains each
        with autocast(torch.device("cpu"), dtype):
            loss = objective.loss(model, inputs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return measure_bf16_speedup(step, rounds=5, budget_seconds=10.0)


def median_training_throughput(metrics_path: Path) -> float:
    """Median tokens/s over the loop's log windows (training only), the first one left out.

    The first window holds the warm-up (and with --compile the compilation), as nanoGPT
    leaves its first iterations out of MFU.
    """
    values = [r["tokens_per_second"] for r in read_metrics(metrics_path) if "tokens_per_second" in r]
    return statistics.median(values[1:] or values)


def last_logged_train_loss(metrics_path: Path) -> tuple[float, int]:
    """Mean training loss of the last log window, and how many steps that window held."""
    logged = [r for r in read_metrics(metrics_path) if "tokens_per_second" in r]
    previous_step = logged[-2]["step"] if len(logged) > 1 else 0
    return logged[-1]["train_loss"], logged[-1]["step"] - previous_step


def collect_figures(cfg: PretrainConfig, result: RunResult, flops: FlopsEstimate, peaks: list[float],
                    other_cores: float | None, meta: dict[str, Any], baseline: dict[str, float] | None,
                    size: str = "nanogpt") -> dict[str, Any]:
    tc = cfg.train
    tokens_per_step = tc.batch_size * tc.grad_accum * tc.seq_len
    tps = median_training_throughput(result.run_dir / "metrics.jsonl")
    peak = max(peaks)
    mfu = flops.per_token * tps / (peak * 1e9)
    ref = NANOGPT[tc.compile]
    final_loss, final_steps = last_logged_train_loss(result.run_dir / "metrics.jsonl")
    return {
        "mode": ref.mode,
        "device": _device_name(),
        "threads": torch.get_num_threads(),
        "other_processes_cpu_cores": other_cores,
        "steps": result.steps,
        "stopped": result.stopped,
        "vocab_size": meta["vocab_size"],
        "train_tokens": meta["splits"]["train"]["tokens"],
        "validation_tokens": meta["splits"]["validation"]["tokens"],
        "parameters": flops.parameters,
        "non_embedding_parameters": flops.non_embedding,
        "flops_per_token": flops.per_token,
        "tokens_per_second": tps,
        "ms_per_iter": tokens_per_step / tps * 1000,
        "tokens_per_second_whole_run": result.tokens_per_second,
        "peak_gflops": peak,
        "peak_gflops_before_after": peaks,
        "mfu": mfu,
        "val_loss": {str(h["step"]): h["val_loss"] for h in result.history},
        "val_bits_per_byte": {str(h["step"]): h.get("val_bits_per_byte") for h in result.history},
        "final_train_loss": final_loss,
        "final_train_loss_steps": final_steps,
        "wall_seconds": result.wall_seconds,
        "nanogpt": {"mode": ref.mode, "ms_per_iter": ref.ms_per_iter, "tokens_per_second": ref.tokens_per_second,
                    "mfu": ref.mfu, "peak_gflops": NANOGPT_PEAK_GFLOPS, "val_loss": NANOGPT_VAL_LOSS,
                    "val_loss_here": NANOGPT_VAL_LOSS_HERE},
        "mfu_ratio": mfu / ref.mfu,
        "tokens_per_second_ratio": tps / ref.tokens_per_second,
        "in_run_step_ms": baseline,
        "in_run_speed_ratio": {name: ms / baseline["adaptlab"] for name, ms in baseline.items() if name != "adaptlab"}
        if baseline else None,
        "size": size,
        "precision": PrecisionChoice.load(result.run_dir).__dict__,
    }


class OtherCpuMeter:
    """CPU time that other processes used while training ran, in cores (Linux /proc/stat; else None).

    Near 0 means the run had the machine to itself; with 2 cores, even ~0.5 makes the
    threads of a 2-thread run wait on each other and slows it far more than that share.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = sum(fields) - fields[3] - fields[4]  # user..steal, less idle and iowait (guest is within user)
        own = os.times()
        return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.perf_counter()

    def cores(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        busy, own, wall = (b - a for a, b in zip(self._start, end))
        return max(0.0, (busy - own) / wall)


def _device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


# --- report -------------------------------------------------------------------------
def print_report(fig: dict[str, Any], cfg: PretrainConfig, console: Console) -> None:
    ref = fig["nanogpt"]
    tc = cfg.train
    table = Table(title=f"pretrain benchmark: shakespeare-char, {fig['size']}, {fig['steps']} steps, {fig['mode']}, "
                        f"{fig['precision']['chosen']}, {fig['device']}, {fig['threads']} threads")
    for column, justify in (("figure", "left"), ("adaptlab", "right"), (f"nanoGPT ({ref['mode']})", "right"),
                            ("ratio", "right")):
        table.add_column(column, justify=justify)
    same = fig["size"] == "nanogpt"  # nanoGPT's figures are for its configuration only

    def theirs(text: str) -> str:
        return text if same else ""

    table.add_row("tokens/s (median, training)", f"{fig['tokens_per_second']:,.0f}",
                  theirs(f"{ref['tokens_per_second']:,.0f}"), theirs(f"{fig['tokens_per_second_ratio']:.2f}"))
    table.add_row("ms / iter", f"{fig['ms_per_iter']:.1f}", theirs(f"{ref['ms_per_iter']:.1f}"), "")
    table.add_row("MFU (of the fp32 peak)", f"{fig['mfu']:.1%}", theirs(f"{ref['mfu']:.0%}"),
                  theirs(f"{fig['mfu_ratio']:.2f}"))
    before, after = fig["peak_gflops_before_after"]
    table.add_row("fp32 matmul peak GFLOP/s", f"{fig['peak_gflops']:.0f} ({before:.0f} / {after:.0f})",
                  theirs(f"{ref['peak_gflops']:.0f}"), "")
    table.add_row("model FLOPs / token", f"{fig['flops_per_token'] / 1e6:.2f} M", "", "")
    last = str(fig["steps"])
    for step, loss in fig["val_loss"].items():
        reference = f"{ref['val_loss']:.2f} ({ref['val_loss_here']:.3f} here) @2000" if step == last else ""
        table.add_row(f"val loss @ {step}", f"{loss:.3f}", theirs(reference), "")
    table.add_row(f"train loss (mean of last {fig['final_train_loss_steps']} steps)", f"{fig['final_train_loss']:.3f}",
                  "", "")
    table.add_row("tokens/s (mean over the run, training steps)", f"{fig['tokens_per_second_whole_run']:,.0f}", "", "")
    table.add_row("wall time, training loop", f"{fig['wall_seconds']:.1f} s", "", "")
    console.print(f"data: vocab {fig['vocab_size']}, {fig['train_tokens']:,} train tokens, "
                  f"{fig['validation_tokens']:,} validation tokens; {fig['parameters']:,} parameters")
    if fig["other_processes_cpu_cores"] is not None:
        console.print(f"other processes used {fig['other_processes_cpu_cores']:.2f} of {os.cpu_count()} CPUs "
                      "while training ran (near 0: the figures are clean; higher: they are depressed)")
    console.print(table)
    L, H, T = cfg.model.layers, cfg.model.heads, tc.seq_len
    Q = cfg.model.hidden // H
    console.print(f"FLOPs/token = 6N + 12·L·H·Q·T = 6·{fig['non_embedding_parameters']:,} + 12·{L}·{H}·{Q}·{T} "
                  f"= {fig['flops_per_token']:,.0f}")
    console.print(f"  N = all {fig['parameters']:,} parameters minus the input embedding (the output head, a real "
                  "matmul, stays)")
    console.print(f"MFU = FLOPs/token × tokens/s ÷ peak = {fig['flops_per_token']:,.0f} × "
                  f"{fig['tokens_per_second']:,.0f} ÷ {fig['peak_gflops']:.1f}e9 = {fig['mfu']:.1%}")
    if fig["precision"]["chosen"] == "bf16":
        console.print("  (a bf16 run is measured against the fp32 peak: bf16 matmuls run faster than it)")
    if same:
        console.print(f"our MFU / nanoGPT's MFU = {fig['mfu_ratio']:.2f}   (the fair comparison on a shared machine)")
        console.print(f"our tokens/s / nanoGPT's = {fig['tokens_per_second_ratio']:.2f}")
    step = fig["in_run_step_ms"]
    if step is None:
        return
    console.print(f"in-run baseline (same batches, alternated rounds): adaptlab {fig['mode']} step "
                  f"{step['adaptlab']:.1f} ms")
    for name, ratio in fig["in_run_speed_ratio"].items():
        console.print(f"  vs {name.replace('_', ' ')} step {step[name]:.1f} ms -> adaptlab speed / nanoGPT's = "
                      f"{ratio:.2f}")


# --- entry point --------------------------------------------------------------------
def print_precision_summary(runs: list[dict[str, Any]], speedups: dict[str, float], console: Console) -> None:
    """One row per (size, precision): what auto chose, tokens/s against the same size's fp32, final val loss."""
    table = Table(title="precision: tokens/s and validation loss")
    for column in ("size", "requested", "chosen", "tokens/s", "vs fp32", "val loss", "why"):
        table.add_column(column, justify="left" if column in ("size", "requested", "chosen", "why") else "right")
    fp32 = {fig["size"]: fig["tokens_per_second"] for fig in runs if fig["precision"]["chosen"] == "fp32"}
    for fig in runs:
        p = fig["precision"]
        base = fp32.get(fig["size"])
        final_loss = list(fig["val_loss"].values())[-1]
        table.add_row(fig["size"], p["requested"], p["chosen"], f"{fig['tokens_per_second']:,.0f}",
                      f"{fig['tokens_per_second'] / base:.2f}x" if base else "", f"{final_loss:.3f}", p["reason"])
    console.print(table)
    for size, speedup in speedups.items():
        console.print(f"{size}: bf16 autocast step / fp32 step, alternated in this process: {speedup:.2f}x fp32 speed")


def main(
    iters: Annotated[int, typer.Option(min=1, help="training steps (nanoGPT: 2000)")] = 2000,
    use_compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model")] = False,
    data: Annotated[Path, typer.Option(help="tinyshakespeare text file")] = DEFAULT_DATA,
    eval_every: Annotated[int, typer.Option(min=1, help="steps between evaluations (capped at --iters)")] = 500,
    precision: Annotated[list[str], typer.Option(help="auto | fp32 | bf16; repeat to compare")] = ["fp32"],
    size: Annotated[list[str], typer.Option(help="nanogpt | 10m; repeat for both")] = ["nanogpt"],
    workdir: Annotated[Path | None, typer.Option(help="where data and the run go (default: a temp dir)")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="keep the temp workdir")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON here")] = None,
) -> None:
    """Pretrain nanoGPT's shakespeare-char model (or the 10m preset) with adaptlab in each precision and print
    throughput, MFU and losses."""
    if not data.is_file():
        raise typer.BadParameter(f"{data}: no such file", param_hint="--data")
    for name in precision:
        if name not in REQUESTS:
            raise typer.BadParameter(f"{name!r}: accepted {', '.join(REQUESTS)}", param_hint="--precision")
    for name in size:
        if name not in SIZES:
            raise typer.BadParameter(f"{name!r}: accepted {', '.join(SIZES)}", param_hint="--size")
    temporary = workdir is None
    root = Path(tempfile.mkdtemp(prefix="adaptlab-bench-")) if temporary else workdir
    root.mkdir(parents=True, exist_ok=True)
    err = Console(stderr=True)
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(f"CPU flags: {' '.join(cpu_flags()) or 'none read'}; torch CPU capability "
                  f"{torch.backends.cpu.get_cpu_capability()}")
    try:
        prepared = prepare_shards(data, root)
        env = init_distributed()  # sets the thread count pretrain will use, so the peak is measured alike
        runs, speedups = [], {}
        for size_name in size:
            for requested in precision:
                peaks = [measure_peak(env.device)]
                run_dir = root / f"run-{size_name}-{requested}-{time.strftime('%Y%m%d-%H%M%S')}"
                cfg = make_config(prepared.shards, run_dir, iters, eval_every, use_compile, size_name, requested)
                err.print(f"training {size_name} in {requested} for {iters} steps in {run_dir} ...")
                meter = OtherCpuMeter()
                result = pretrain(cfg, progress=sys.stderr.isatty())
                other_cores = meter.cores()
                peaks.append(measure_peak(env.device))
                flops = model_flops(cfg.model, prepared.meta["vocab_size"], prepared.special_ids, cfg.train.seq_len)
                baseline = None
                if size_name == "nanogpt" and PrecisionChoice.load(run_dir).chosen == "fp32":
                    err.print("timing adaptlab's and nanoGPT's training steps side by side ...")
                    baseline = interleaved_step_times(cfg, prepared, use_compile)
                figures = collect_figures(cfg, result, flops, peaks, other_cores, prepared.meta, baseline, size_name)
                print_report(figures, cfg, console)
                runs.append(figures)
            if len(precision) > 1:
                err.print(f"alternating fp32 and bf16 steps of the {size_name} model ...")
                speedups[size_name] = alternated_bf16_speedup(cfg, prepared)
        if len(runs) > 1:
            print_precision_summary(runs, speedups, console)
        if json_path:
            json_path.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2) + "\n")
    finally:
        if temporary and not keep:
            shutil.rmtree(root, ignore_errors=True)
        elif temporary:
            err.print(f"kept {root}")


if __name__ == "__main__":
    typer.run(main)
