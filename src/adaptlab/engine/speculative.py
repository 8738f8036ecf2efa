"""Speculative decoding: a small draft model proposes tokens, the target checks them all in
one forward pass, so each expensive target pass can yield several tokens.

Each round the draft proposes `lookahead` (gamma) tokens autoregressively; the target
scores the last accepted token and all proposals at once. Greedy: proposals are kept
while they equal the target's argmax, then the target's own token follows, so the
output is the target's greedy output. Sampled: the rejection sampling of Leviathan et
al. 2023 / Chen et al. 2023 (accept a proposal x with probability min(1, p(x)/q(x)),
on the first rejection draw from norm(max(0, p - q)), and when all are accepted draw a
bonus token from the target's next distribution), so every token is distributed as the
target alone would sample it. Both models keep a KV cache, cropped back to the
accepted tokens after each round.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.engine.decode import Cache, collect, forward, new_cache
from adaptlab.engine.requests import Generation, GenerationSettings, prompt_tokens
from adaptlab.engine.sampling import distribution, rng_for
from adaptlab.errors import UserError
from adaptlab.models.family import require_decoder


@dataclass
class SpeculativeStats:
    """What a request cost: proposals made, accepted and rejected, forward passes of each model."""

    proposed: int = 0
    accepted: int = 0
    rejected: int = 0  # rounds that ended on a rejection; the proposals after it were never judged
    target_forwards: int = 0
    draft_forwards: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted share of the proposals the target judged: the per-token alpha of Leviathan et al.

        accepted / proposed would count the proposals after a rejection as failures and
        understate alpha, the figure their speedup formula takes.
        """
        judged = self.accepted + self.rejected
        return self.accepted / judged if judged else 0.0


@dataclass
class SpeculativeGeneration(Generation):
    stats: SpeculativeStats = field(default_factory=SpeculativeStats)


def verify_greedy(target_logits: torch.Tensor, drafts: list[int]) -> tuple[int, int]:
    """How many proposals match the target's argmax, and the target's token after them.

    `target_logits` [len(drafts) + 1, vocab]: row i predicts the position of drafts[i].
    """
    best = target_logits.argmax(-1).tolist()
    k = 0
    while k < len(drafts) and drafts[k] == best[k]:
        k += 1
    return k, best[k]


def verify_sampled(p: torch.Tensor, q: torch.Tensor, drafts: list[int], rng: torch.Generator) -> tuple[int, int]:
    """How many proposals are accepted, and the token that follows them, by rejection sampling.

    `p` [len(drafts) + 1, vocab] is the target's distribution at each proposal's position and
    after the last; `q` [len(drafts), vocab] is the draft's, which each proposal was drawn from.
    """
    for i, token in enumerate(drafts):
        if torch.rand((), generator=rng, device=p.device) * q[i, token] < p[i, token]:  # r < p/q
            continue
        residual = (p[i] - q[i]).clamp_min(0)
        total = residual.sum()
        return i, int(torch.multinomial(residual / total if total > 0 else p[i], 1, generator=rng))
    return len(drafts), int(torch.multinomial(p[-1], 1, generator=rng))


def _context(model: PreTrainedModel) -> int:
    return getattr(model.config, "max_position_embeddings", None) or 2**31


class SpeculativeDecoder:
    """A target decoder sped up by a draft decoder over the same tokenizer."""

    def __init__(self, target: PreTrainedModel, draft: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *,
                 lookahead: int = 4):
        require_decoder(target, "speculative decoding")
        require_decoder(draft, "speculative decoding")
        if target.config.vocab_size != draft.config.vocab_size:
            raise UserError(f"draft vocabulary of {draft.config.vocab_size} tokens differs from the target's "
                            f"{target.config.vocab_size}; speculative decoding needs a draft trained with the "
                            "target's tokenizer")
        if lookahead < 1:
            raise UserError(f"lookahead {lookahead}: give the number of tokens the draft proposes per round (>= 1)")
        self.target = target.eval()
        self.draft = draft.eval()
        self.tokenizer = tokenizer
        self.lookahead = lookahead

    @property
    def context_model(self) -> PreTrainedModel:
        """Whichever of the two models has the shorter context: prompts are cut to fit it."""
        return min(self.target, self.draft, key=_context)

    def stream(self, prompt: str, settings: GenerationSettings, stats: SpeculativeStats) -> Iterator[int]:
        """New tokens as rounds accept them, until EOS or max_new_tokens; `stats` counts as it goes."""
        seq = prompt_tokens(self.context_model, self.tokenizer, prompt, settings.max_new_tokens)
        target_cache, draft_cache = new_cache(self.target), new_cache(self.draft)
        rng = rng_for(settings, next(self.target.parameters()).device)
        eos = self.tokenizer.eos_token_id
        left = settings.max_new_tokens
        while left > 0:
            gamma = min(self.lookahead, left - 1)  # a round yields up to gamma + 1 tokens
            drafts, q = self._propose(seq[draft_cache.get_seq_length() :], draft_cache, gamma, settings, rng)
            stats.draft_forwards += gamma
            scored = forward(self.target, seq[target_cache.get_seq_length() :] + drafts, target_cache, keep=gamma + 1)
            stats.target_forwards += 1
            if q is None:
                k, token = verify_greedy(scored, drafts)
            else:
                k, token = verify_sampled(distribution(scored, settings), q, drafts, rng)
            stats.proposed += gamma
            stats.accepted += k
            stats.rejected += int(k < gamma)
            new = [*drafts[:k], token]
            if eos in new:
                yield from new[: new.index(eos)]
                return
            yield from new
            seq += new
            left -= len(new)
            for cache in (target_cache, draft_cache):  # keep only accepted tokens, all but the newest
                excess = cache.get_seq_length() - (len(seq) - 1)
                if excess > 0:
                    cache.crop(-excess)

    def _propose(self, pending: list[int], cache: Cache, gamma: int, settings: GenerationSettings,
                 rng: torch.Generator) -> tuple[list[int], torch.Tensor | None]:
        """`gamma` draft tokens after `pending` (what the draft's cache lacks), and the distributions
        [gamma, vocab] they were drawn from (None when greedy: verification needs only the tokens)."""
        drafts, q_rows = [], []
        for _ in range(gamma):
            logits = forward(self.draft, pending, cache, keep=1)[-1]
            if settings.temperature == 0:
                token = int(logits.argmax())
            else:
                q_rows.append(distribution(logits, settings))
                token = int(torch.multinomial(q_rows[-1], 1, generator=rng))
            drafts.append(token)
            pending = [token]
        if settings.temperature == 0:
            return drafts, None
        return drafts, torch.stack(q_rows) if q_rows else torch.zeros(0, self.draft.config.vocab_size)

    def generate(self, prompt: str, settings: GenerationSettings) -> SpeculativeGeneration:
        """The continuation of `prompt` (the target's greedy one at temperature 0), with what it cost."""
        stats = SpeculativeStats()
        out = collect(self.stream(prompt, settings, stats), self.tokenizer, settings.stop)
        return SpeculativeGeneration(out.text, out.tokens, stats)
