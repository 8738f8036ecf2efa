"""Offline always, quiet unless asked: what the libraries under adaptlab would otherwise do at run time.

Nothing here reaches a model hub: a library that tries (bitsandbytes asks `kernels` for a hub
kernel on AVX512-BF16 CPUs, sentence-transformers and transformers check for updates) finds
Hugging Face's offline switch on and uses what is on disk. A user's own `HF_HUB_OFFLINE=0` wins.

The command line also hides library chatter a user cannot act on (loading bars, deprecation
notices, that same failed kernel look-up); `adaptlab --verbose ...` shows it.
"""

from __future__ import annotations

import logging
import os
import warnings

CHATTY_LIBRARIES = ("bitsandbytes", "kernels", "huggingface_hub", "sentence_transformers", "peft", "torch",
                    "accelerate", "faiss", "bm25s", "datasets", "lm_eval")


def go_offline() -> None:
    """Hugging Face libraries read this switch when they are first imported: set it before them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def quiet_libraries() -> None:
    """Errors only from the libraries; adaptlab's own warnings are printed by adaptlab, not `warnings`."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar too
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
