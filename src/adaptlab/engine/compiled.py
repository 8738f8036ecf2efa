"""Compiled decoding: a static KV cache and a `torch.compile`d forward.

Why: the KV cache turns each decode step into one token's arithmetic, which for the small
models trained here is a fraction of a millisecond; the step then costs what surrounds it
in eager mode (dozens of kernel launches, attention masks, rotary tables, a cache that
grows by concatenation), and the cache's gain is capped by that overhead. A static cache
keeps every step's shapes the same, so the compiler fuses the step into a few kernels,
compiled once. The price is the compilation (tens of seconds on a CPU) and a recompile
per new prompt length or generation budget, so it pays off for long generations and
steady workloads, not for one short request.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from adaptlab.engine.decode import require_decoder


def compile_decoding(model: PreTrainedModel) -> PreTrainedModel:
    """`model` (changed in place) generating with a static cache through a compiled forward;
    its greedy tokens stay those of eager decoding."""
    require_decoder(model)
    model.generation_config.cache_implementation = "static"
    # transformers compiles only the decode step, and only on accelerators; this compiles every forward, anywhere
    model.generation_config.disable_compile = True
    model.forward = torch.compile(model.forward)
    return model
