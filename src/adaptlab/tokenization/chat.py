"""Chat-template rendering: how a conversation becomes the text a model continues. One place for
training (SFT renders its examples so), evaluation, `LM`s asked as chat models, and serving."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

Messages = list[dict[str, str]]

# Plain-text role markers: no new tokens, so any tokenizer can carry it.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def ensure_chat_template(tokenizer: PreTrainedTokenizerBase) -> None:
    """Give a tokenizer without a chat template the plain default (saved with it)."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: Messages) -> str:
    """The text a model continues to answer `messages` (ending with the assistant header)."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
