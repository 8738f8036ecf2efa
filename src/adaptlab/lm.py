"""The LM interface every adapted system implements, and its Hugging Face implementation.

The three calls are lm-evaluation-harness's: score a continuation, score a whole text,
generate until a stop string. Because every method answers them, evaluation, serving
and comparison work on all of them unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.models.family import require_decoder
from adaptlab.train.precision import PrecisionChoice, autocast, choose_precision, measure_bf16_speedup

MIN_BATCHES_TO_MEASURE = 8  # scoring fewer batches than this stays in the requested or fp32 precision


class LM(ABC):
    """What every adapted system answers."""

    @abstractmethod
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """For each (context, continuation): log P(continuation | context), and whether it is the greedy one."""

    @abstractmethod
    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """For each text: its total log-probability, from an empty context."""

    @abstractmethod
    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """For each (context, settings): the generated text, cut at the first of settings['until']."""

    def fingerprint(self) -> str | None:
        """What identifies this system's answers (weights, tokenizer, retrieval index...), for caches of
        answers to key on; None when unknown, and then nothing it answers outlives the process."""
        return None


class HFCausalLM(LM):
    """A decoder-only transformers model behind the LM interface."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 16,
                 max_length: int | None = None, chat: bool = False, precision: str = "fp32"):
        require_decoder(model, "the LM interface")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", 2048)
        self.prefix_id = tokenizer.eos_token_id  # every training document followed an EOS
        self.chat = chat
        self.precision = precision  # of scoring (fp32, bf16, or auto: see scoring_precision)
        self.scoring_choice: PrecisionChoice | None = None
        self._fingerprint: str | None = None

    @classmethod
    def from_path(cls, path: str | Path, *, device: str = "cpu", batch_size: int = 16) -> HFCausalLM:
        """From a run folder or a local Hugging Face checkpoint folder."""
        from adaptlab.runs import load_model

        loaded = load_model(Path(path), device=device)
        return cls(loaded.model, loaded.tokenizer, batch_size=batch_size, chat=loaded.chat)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def render(self, context: str) -> str:
        """What the model is given for a request's context: for a model fine-tuned on conversations
        (`chat`), the context as the user's turn in its chat template, as training rendered it."""
        if not self.chat:
            return context
        from adaptlab.tokenization.chat import ensure_chat_template, render_prompt

        ensure_chat_template(self.tokenizer)
        return render_prompt(self.tokenizer, [{"role": "user", "content": context}])

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def fingerprint(self) -> str:
        """Weights (adapter included), config, tokenizer and chat rendering; computed once (it reads every weight)."""
        if self._fingerprint is None:
            from adaptlab.fingerprint import model_digest

            self._fingerprint = model_digest(self.model, self.tokenizer, chat=self.chat, max_length=self.max_length)
        return self._fingerprint

    def _split_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Ids of context and continuation, encoding them together as lm-eval does so merges agree."""
        spaces = 0 if self.chat else len(context) - len(context.rstrip())  # a chat template's newline is the context's
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        cont = whole[len(ctx) :] if whole[: len(ctx)] == ctx else self.encode(continuation)
        return [self.prefix_id, *ctx], cont

    def scoring_precision(self, ids: torch.Tensor, batches: int) -> PrecisionChoice:
        """Decided once, on the first batch: `auto` takes bf16 autocast where the device computes bf16 and a
        short alternated measurement of this model's forward shows it faster (from ~256 wide on an
        AVX512-BF16 CPU, ~1.8x); never for a handful of batches, which the measurement would outweigh.
        Generation stays fp32: batch-1 decoding under autocast measured 0.35-1.05x fp32."""
        if self.scoring_choice is None:
            if self.precision == "auto" and batches < MIN_BATCHES_TO_MEASURE:
                self.scoring_choice = PrecisionChoice("auto", "fp32", f"{batches} batches to score: too few to "
                                                                      "measure bf16 against")
            else:
                def forward(dtype: torch.dtype | None) -> None:
                    with torch.no_grad(), autocast(self.device, dtype):
                        self.model(input_ids=ids, use_cache=False)

                self.scoring_choice = choose_precision(self.precision, self.device,
                                                       lambda: measure_bf16_speedup(forward))
        return self.scoring_choice

    def _score(self, windows: list[tuple[list[int], int]]) -> list[tuple[float, bool]]:
        """Sum of log-probs of the last `n` tokens of each sequence, and whether each was the argmax."""
        out: list[tuple[float, bool]] = []
        batches = -(-len(windows) // self.batch_size)
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            width = max(len(seq) for seq, _ in chunk) - 1
            pad = self.tokenizer.pad_token_id or 0
            ids = torch.tensor([seq[:-1] + [pad] * (width - len(seq) + 1) for seq, _ in chunk], device=self.device)
            dtype = self.scoring_precision(ids, batches).autocast_dtype
            with torch.no_grad(), autocast(self.device, dtype):
                logits = self.model(input_ids=ids, use_cache=False).logits[:, -ids.size(1) :]  # past virtual tokens
                logprobs = F.log_softmax(logits.float(), dim=-1)
            for row, (seq, n) in enumerate(chunk):
                positions = torch.arange(len(seq) - 1 - n, len(seq) - 1, device=self.device)
                targets = torch.tensor(seq[-n:], device=self.device)
                picked = logprobs[row, positions]
                total = picked.gather(-1, targets[:, None]).sum().item()
                out.append((total, bool((picked.argmax(-1) == targets).all())))
        return out

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        windows = []
        for context, continuation in requests:
            ctx, cont = self._split_pair(self.render(context), continuation)
            if not cont:
                raise UserError(f"empty continuation for context {context[-40:]!r}")
            seq = (ctx + cont)[-(self.max_length + 1) :]
            windows.append((seq, min(len(cont), len(seq) - 1)))
        return self._score(windows)

    def rolling_windows(self, text: str) -> list[tuple[list[int], int]]:
        """Disjoint prediction windows covering every token of `text` once."""
        tokens = [self.prefix_id, *self.encode(text)]
        windows = []
        for start in range(0, len(tokens) - 1, self.max_length):
            seq = tokens[start : start + self.max_length + 1]
            windows.append((seq, len(seq) - 1))
        return windows

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        per_text = [self.rolling_windows(t) for t in texts]
        scores = iter(self._score([w for windows in per_text for w in windows]))
        return [sum(next(scores)[0] for _ in windows) for windows in per_text]

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """As `LM.generate_until`; a request's gen_kwargs may also hold `copy_from`, texts its output
        must be a span of (`engine.copying`). Consecutive requests with the same settings are decoded
        together, `batch_size` at a time (left-padded): a small model's step costs about the same for
        one sequence as for eight."""
        results: list[str] = []
        batch: list[tuple[str, dict[str, Any]]] = []
        for request in requests:
            if batch and (len(batch) == self.batch_size or not _same_settings(batch[0][1], request[1])):
                results += self._generate_batch(batch)
                batch = []
            batch.append(request)
        return results + (self._generate_batch(batch) if batch else [])

    def _generate_batch(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        settings = GenerationSettings.from_gen_kwargs(batch[0][1])
        sources = [kw["copy_from"] for _, kw in batch] if "copy_from" in batch[0][1] else None
        prompts = [self.render(context) for context, _ in batch]
        return [g.text for g in generate(self.model, self.tokenizer, prompts, settings, sources)]


def _same_settings(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two requests can share a batch: the same settings, each with or without `copy_from`."""
    return a.keys() == b.keys() and all(a[k] == b[k] for k in a if k != "copy_from")
