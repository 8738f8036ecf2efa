"""bitsandbytes' two CPU paths for an NF4 layer, timed beside the fp32 layer it replaces.

What it does
    For square layers of a few widths, at batch 1 (decoding) and batch 64 (prefill, scoring),
    times one eval-mode forward of: the fp32 `nn.Linear`; the NF4 layer on bitsandbytes' generic
    path (blockwise dequantize, any shape); and, on a CPU with AVX512-BF16, the same layer on its
    packed bf16 kernel (the path `adaptlab.adapt.peft_methods.qlora` lets inference take where the shape fits).
    The three alternate in short rounds so they share the machine's noise; the median is printed
    with the relative output error against fp32.

Usage (from the repo root)
    .venv/bin/python benchmarks/qlora_paths.py [--widths 256,1024,2048] [--rounds 7]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table

from adaptlab.adapt.peft_methods.qlora import cpu_packs_nf4, import_bitsandbytes
from adaptlab.train.precision import cpu_flags


def nf4_layer(linear: torch.nn.Linear, packed: bool) -> torch.nn.Module:
    bnb = import_bitsandbytes()
    layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=False, compute_dtype=torch.float32,
                              quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(linear.weight.data.clone(), requires_grad=False, quant_type="nf4", module=layer)
    layer = layer.to("cpu").eval()
    layer.support_avx512bf16_for_cpu = packed
    return layer


def ms_per_call(fn: Callable[[], object], seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def main(
    widths: Annotated[str, typer.Option(help="comma-separated layer widths")] = "256,1024,2048",
    rounds: Annotated[int, typer.Option(min=1, help="alternated rounds per contender")] = 7,
) -> None:
    """Print ms per forward of fp32, NF4 generic and NF4 packed layers."""
    flags = cpu_flags()
    packs = cpu_packs_nf4()
    console = Console()
    console.print(f"CPU flags: {' '.join(flags)}; torch threads {torch.get_num_threads()}; "
                  f"bitsandbytes packs NF4 here: {packs}")
    table = Table(title="one eval forward, ms (median of alternated rounds); error: relative to fp32")
    for column in ("width", "batch", "fp32", "NF4 generic", "NF4 packed", "packed / generic", "error"):
        table.add_column(column, justify="right")
    for width in (int(w) for w in widths.split(",")):
        torch.manual_seed(0)
        linear = torch.nn.Linear(width, width, bias=False).eval()
        layers = {"fp32": linear, "generic": nf4_layer(linear, packed=False)}
        if packs:
            layers["packed"] = nf4_layer(linear, packed=True)
        for batch in (1, 64):
            x = torch.randn(batch, width)
            times: dict[str, list[float]] = {name: [] for name in layers}
            with torch.no_grad():
                reference = linear(x)
                error = ((layers["generic"](x) - reference).norm() / reference.norm()).item()
                for name, layer in layers.items():
                    ms_per_call(lambda layer=layer: layer(x), 0.05)  # warm-up (and the packing, once)
                for _ in range(rounds):
                    for name, layer in layers.items():
                        times[name].append(ms_per_call(lambda layer=layer: layer(x), 0.1))
            ms = {name: statistics.median(values) for name, values in times.items()}
            packed = ms.get("packed")
            table.add_row(str(width), str(batch), f"{ms['fp32']:.3f}", f"{ms['generic']:.3f}",
                          f"{packed:.3f}" if packed else "n/a", f"{packed / ms['generic']:.2f}" if packed else "",
                          f"{error:.3f}")
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
