"""QLoRA's frozen NF4 base through bitsandbytes, on both of its CPU code paths.

bitsandbytes 0.50 computes NF4 layers on a CPU in one of two ways. The generic path
dequantizes blockwise and works for any layer shape, forward and backward. On a CPU with
AVX512-BF16 it also repacks a layer's weights in eval mode (no grad) for a fused bf16 kernel,
1.5-14x faster than the generic path (`benchmarks/qlora_paths.py`), but that kernel needs
`in_features % 64 == 0` and `out_features % 32 == 0`, and its packed weights have no backward:
a LoRA trained through them after an evaluation gets no gradient below the packed layer.

So every linear layer stays NF4 and each takes the path that can compute it: training uses the
generic path throughout; a loaded model for inference lets bitsandbytes pack the layers whose
shape fits its kernel and keeps the rest on the generic path (named in the run's cost.json).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from transformers import PreTrainedModel

from adaptlab.errors import UserError

PACK_IN_MULTIPLE = 64  # the NF4 block: absmax is reshaped to (out, in // 64) when packing
PACK_OUT_MULTIPLE = 32  # rows per packed tile (block_n)


def import_bitsandbytes():
    """bitsandbytes, imported quietly: on AVX512-BF16 CPUs it asks `kernels` for a hub kernel at import
    and logs the failure offline (it falls back to its own), a message a user cannot act on."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError("QLoRA needs bitsandbytes for its 4-bit base: pip install 'adaptlab[qlora]'")
    loggers = [logging.getLogger(name) for name in ("bitsandbytes", "kernels")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        import bitsandbytes
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    return bitsandbytes


def cpu_packs_nf4() -> bool:
    """Whether bitsandbytes repacks NF4 weights for its AVX512-BF16 kernel on this CPU (in eval mode)."""
    import_bitsandbytes()
    from bitsandbytes.functional import has_avx512bf16

    return bool(has_avx512bf16())


def fits_packed_kernel(layer: torch.nn.Linear) -> bool:
    """The layer shapes bitsandbytes' packed CPU kernel computes."""
    return layer.in_features % PACK_IN_MULTIPLE == 0 and layer.out_features % PACK_OUT_MULTIPLE == 0


def nf4_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The model's NF4 linear layers by name."""
    bnb = import_bitsandbytes()
    return {name: m for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def choose_cpu_paths(model: torch.nn.Module, *, training: bool, packing: bool | None = None) -> list[str]:
    """Set, per NF4 layer, whether bitsandbytes may pack it in eval mode; return the layers left on the
    generic path although this CPU packs (every layer when training, since packed weights have no
    backward). `packing` forces the choice bitsandbytes makes from the CPU (tests take both paths)."""
    host_packs = cpu_packs_nf4() if packing is None else packing
    generic = []
    for name, layer in nf4_layers(model).items():
        layer.support_avx512bf16_for_cpu = host_packs and not training and fits_packed_kernel(layer)
        if host_packs and not layer.support_avx512bf16_for_cpu:
            generic.append(name)
    return generic


def load_4bit(model_dir: Path, device: str | torch.device = "cpu", *, training: bool = False,
              packing: bool | None = None) -> PreTrainedModel:
    """A causal LM with its linear layers quantized to NF4 (frozen): QLoRA's base, ready for LoRA when
    `training`, else for inference on the fastest CPU path each layer can take (see the module's doc)."""
    import_bitsandbytes()
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quantization,
                                                 device_map=str(device), local_files_only=True)
    if torch.device(device).type == "cpu":
        choose_cpu_paths(model, training=training, packing=packing)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False) if training else model.eval()


def generic_path_layers(model: torch.nn.Module) -> list[str]:
    """For cost.json: the NF4 layers that stay on bitsandbytes' generic CPU path at inference on this
    host (their shape does not fit the packed kernel); empty where the CPU does not pack."""
    if not cpu_packs_nf4():
        return []
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # names as in the base checkpoint
    return sorted(name.removesuffix(".base_layer") for name, layer in nf4_layers(base).items()
                  if not fits_packed_kernel(layer))
