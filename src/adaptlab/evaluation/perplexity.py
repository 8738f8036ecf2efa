"""Loss, perplexity and bits per byte of a model on held-out text.

For a causal LM every token of every text is scored once (lm-eval's rolling
windows), so bits per byte is exact and comparable across tokenizers. Encoder and
encoder-decoder models have no left-to-right likelihood; for them the figure is the
pretraining objective's loss on fixed-seed windows of the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from adaptlab.lm import HFCausalLM
from adaptlab.runs import LoadedModel
from adaptlab.train.batches import TokenWindows, step_generator
from adaptlab.train.metrics import LN2
from adaptlab.train.objectives import objective_for


def causal_metrics(lm: HFCausalLM, texts: Sequence[str]) -> dict[str, float]:
    """Exact held-out loss (nats/token), perplexity and bits per byte."""
    total = sum(lm.loglikelihood_rolling(texts))
    tokens = sum(len(lm.encode(t)) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    loss = -total / max(1, tokens)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_byte": -total / LN2 / max(1, n_bytes),
            "tokens": tokens, "bytes": n_bytes, "documents": len(texts)}


def objective_metrics(loaded: LoadedModel, texts: Sequence[str], *, seq_len: int = 128, batches: int = 20,
                      batch_size: int = 8, seed: int = 0) -> dict[str, float]:
    """The pretraining objective's loss on fixed windows (encoder and encoder-decoder models)."""
    import torch

    tok = loaded.tokenizer
    seq_len = min(seq_len, getattr(loaded.model.config, "max_position_embeddings", None) or seq_len)
    ids: list[int] = []
    for text in texts:
        ids += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    objective = objective_for(loaded.family, tok, loaded.model, mlm_probability=0.15, noise_density=0.15,
                              mean_span_length=3.0)
    window = min(objective.window_length(seq_len), len(ids))
    windows = TokenWindows([np.asarray(ids)], window, "evaluation text")
    gen = step_generator(seed, 0, stream=1)
    losses = []
    with torch.no_grad():
        for _ in range(batches):
            batch = objective.make_batch(windows.sample(batch_size, gen), gen)
            losses.append(objective.loss(loaded.model, batch).item())
    loss = sum(losses) / len(losses)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "objective": objective.name,
            "tokens": len(ids), "documents": len(texts)}


def evaluate_texts(loaded: LoadedModel, texts: Sequence[str], batch_size: int = 16,
                   precision: str = "fp32") -> dict[str, float | str]:
    """The right held-out figures for the model's family (a causal LM's scored in `precision`, which the
    figures name: fp32, bf16, or auto's choice)."""
    if loaded.family == "decoder":
        lm = HFCausalLM(loaded.model, loaded.tokenizer, batch_size=batch_size, precision=precision)
        metrics: dict[str, float | str] = dict(causal_metrics(lm, texts))
        if lm.scoring_choice is not None:
            metrics["precision"] = lm.scoring_choice.chosen
        return metrics
    return objective_metrics(loaded, texts)
