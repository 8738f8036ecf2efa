"""Which precision a run trains in: bf16 autocast where the hardware computes it and it pays, else fp32.

`precision: auto` asks the device. A CUDA GPU with bf16 gets bf16. A CPU gets bf16 only when it
computes bf16 natively (AVX512-BF16 or AMX; on an AVX2-only host bf16 runs ~400x slower than
fp32) *and* a short alternated measurement of this model's own training step shows bf16 ahead:
on an AVX512-BF16 host the win measured 1.23x at width 128 and 1.42x for the 10m preset
(benchmarks/pretrain.py), below 1 for tiny test models, so the model decides, not a table. The choice and its reason are printed and kept in the run folder
(`precision.json`); a resumed run reuses it, so resuming stays bit-for-bit.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

Precision = Literal["fp32", "bf16"]
RequestedPrecision = Literal["auto", "fp32", "bf16"]
REQUESTS: tuple[str, ...] = get_args(RequestedPrecision)
PRECISION_FILE = "precision.json"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
FAST_PATH_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")  # what benchmarks report
MIN_SPEEDUP = 1.15  # bf16 rounds more: it must be clearly faster, beyond the noise of a short measurement


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision chosen, why, and the bf16 speed-up measured on the model (when measured)."""

    requested: str
    chosen: Precision
    reason: str
    bf16_speedup: float | None = None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.chosen == "bf16" else None

    def save(self, run_dir: Path) -> None:
        (run_dir / PRECISION_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> PrecisionChoice | None:
        path = run_dir / PRECISION_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def cpu_flags(names: tuple[str, ...] = FAST_PATH_CPU_FLAGS, cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of `names` the CPU has (Linux); empty where it has none or the CPU cannot be read."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return []
    return [flag for flag in names if flag in flags]


def cpu_bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The CPU's native-bf16 flags."""
    return cpu_flags(BF16_CPU_FLAGS, cpuinfo)


def attention_for(model: torch.nn.Module, device: torch.device, dtype: torch.dtype | None) -> None:
    """Eager attention under bf16 autocast on a CPU, SDPA otherwise: SDPA's bf16 flash-attention backward
    on a CPU is slower than its fp32 one (10m preset, T 256, alternated steps: bf16 1.42x fp32 with eager
    attention, 1.36x with SDPA; in fp32 SDPA is the faster)."""
    from transformers import PreTrainedModel

    if device.type != "cpu":
        return
    hf = next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
    if hf is not None and hf.config._attn_implementation in ("sdpa", "eager"):
        hf.set_attn_implementation("eager" if dtype is not None else "sdpa")


def autocast(device: torch.device, dtype: torch.dtype | None):
    """bf16 autocast on the device, or nothing (fp32)."""
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def measure_bf16_speedup(step: Callable[[torch.dtype | None], None], rounds: int = 3,
                         budget_seconds: float = 0.3) -> float:
    """fp32 step time / bf16 step time, alternating the two so that both see the same machine noise.

    `step(dtype)` runs one forward and backward of the model under that autocast dtype (None: fp32).
    """
    def timed(dtype: torch.dtype | None, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            step(dtype)
        return (time.perf_counter() - start) / n

    warm = timed(None, 1)
    timed(torch.bfloat16, 1)
    n = max(1, min(10, int(budget_seconds / rounds / max(warm, 1e-6))))
    fp32, bf16 = [], []
    for _ in range(rounds):
        fp32.append(timed(None, n))
        bf16.append(timed(torch.bfloat16, n))
    return statistics.median(fp32) / statistics.median(bf16)


def choose_precision(requested: str, device: torch.device, measure: Callable[[], float],
                     cpu_flags: list[str] | None = None) -> PrecisionChoice:
    """fp32, bf16, or for `auto` whichever the device computes faster (see the module's doc).

    `measure()` returns the model's bf16 speed-up; it is called only on a CPU with native bf16.
    """
    if requested == "fp32":
        return PrecisionChoice(requested, "fp32", "requested")
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        if requested == "bf16" or native:
            return PrecisionChoice(requested, "bf16", "requested" if requested == "bf16" else "the GPU computes bf16")
        return PrecisionChoice(requested, "fp32", "the GPU has no native bf16")
    flags = cpu_bf16_flags() if cpu_flags is None else cpu_flags
    if requested == "bf16":
        reason = "requested" if flags else "requested on a CPU without native bf16: expect it to be far slower"
        return PrecisionChoice(requested, "bf16", reason)
    if device.type != "cpu" or not flags:
        return PrecisionChoice(requested, "fp32", f"the {device.type.upper()} has no native bf16 "
                                                  f"({' or '.join(BF16_CPU_FLAGS)})")
    speedup = measure()
    if speedup >= MIN_SPEEDUP:
        return PrecisionChoice(requested, "bf16", f"the CPU has {', '.join(flags)} and bf16 measured "
                                                  f"{speedup:.2f}x fp32 on this model", speedup)
    return PrecisionChoice(requested, "fp32", f"the CPU has {', '.join(flags)} but bf16 measured only "
                                              f"{speedup:.2f}x fp32 on this model (below {MIN_SPEEDUP}x)", speedup)
