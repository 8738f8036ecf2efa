"""The special tokens every adaptlab tokenizer carries, and the roles they play.

Specials take the lowest ids in this order, so models trained with different
tokenizers still agree on where padding and document boundaries live.
"""

from __future__ import annotations

from collections.abc import Sequence

from adaptlab.errors import UserError

# Role name (as transformers spells it) -> token.
ROLE_TOKENS = {
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "mask_token": "<mask>",
}

# T5-style span-corruption sentinels for encoder-decoder pretraining.
SENTINEL_TOKENS = [f"<extra_id_{i}>" for i in range(16)]

DEFAULT_SPECIAL_TOKENS = [*ROLE_TOKENS.values(), *SENTINEL_TOKENS]


def check_special_tokens(special_tokens: Sequence[str]) -> list[str]:
    """The specials as a list; every role token must be there, and none twice."""
    tokens = list(special_tokens)
    missing = [t for t in ROLE_TOKENS.values() if t not in tokens]
    if missing:
        raise UserError(
            f"special tokens lack {', '.join(missing)}; they must include {', '.join(ROLE_TOKENS.values())}"
        )
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise UserError(f"special tokens repeat {', '.join(repeated)}; each may appear once")
    return tokens


def extra_special_tokens(special_tokens: Sequence[str]) -> list[str]:
    """The specials that have no named role (sentinels and any the user added)."""
    roles = set(ROLE_TOKENS.values())
    return [t for t in special_tokens if t not in roles]
