"""Copy-constrained decoding: the output must be a span of given source texts.

Why: a small reader that has learned *where* an answer lies in its passages still garbles
invented names when it copies them token by token ("Zikpemex" for "Zikmina"). Keeping each
step to the tokens that leave the output a substring of a source makes the copy exact —
the extractive reader of open-domain QA, done at decode time — while the model still picks
where the span starts and where it stops. Whitespace is ignored in the match, so a span
counts whatever the token boundaries around it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase


def _squash(text: str) -> str:
    return "".join(text.split())


class CopyConstraint(LogitsProcessor):
    """Masks every token that would make a row's output leave its sources; stopping is always allowed.

    `sources[row]` are the texts row `row` may copy from; `prompt_width` is where generation
    starts in `input_ids` (prompts left-padded to one width); a token whose text holds one of
    `stop`, and EOS, end the output.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, sources: Sequence[Sequence[str]], prompt_width: int,
                 stop: Sequence[str]):
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        ends = {i for i, p in enumerate(pieces) if any(s and s in p for s in stop)}
        ends |= {t for t in (tokenizer.eos_token_id,) if t is not None}
        self.ends = torch.tensor(sorted(ends), dtype=torch.long)
        self.sources = ["\0".join(_squash(s) for s in texts) for texts in sources]
        # per row, the tokens that occur in its sources at all (blanks always do): the only ones worth
        # testing at each step
        squashed = [_squash(p) for p in pieces]
        self.pieces = [[(i, p) for i, p in enumerate(squashed) if p in source] for source in self.sources]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        allowed[:, self.ends.to(scores.device)] = True
        for row, generated in enumerate(input_ids[:, self.prompt_width:].tolist()):
            so_far = _squash(self.tokenizer.decode(generated, skip_special_tokens=True))
            source = self.sources[row]
            keep = [i for i, piece in self.pieces[row] if so_far + piece in source]
            allowed[row, keep] = True
        return scores.masked_fill(~allowed, float("-inf"))
