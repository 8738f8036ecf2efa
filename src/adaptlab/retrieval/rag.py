"""Retrieval-augmented generation as an `LM`: retrieve, fit passages into the context, ask the reader.

Each request's context is taken as the question: it is the retrieval query and the
last line of the prompt. Passages are kept best first while the prompt, the tokens to
generate (or the continuation to score) and the reader's start token fit its context;
the lowest-ranked go first. With `sentences=N` the passages are first cut to their N
sentences closest to the question (`retrieval.compress`). `format_rag_prompt` is the one
prompt format, public so that supervised data for a reader model is rendered exactly as
RagLM asks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jinja2

from adaptlab.engine.requests import GenerationSettings
from adaptlab.errors import UserError
from adaptlab.lm import LM
from adaptlab.retrieval.compress import compress
from adaptlab.retrieval.metrics import unique_docs
from adaptlab.retrieval.search import MODES, Hit, Searcher

DEFAULT_GEN_KWARGS: dict[str, Any] = {"until": ["\n"], "max_gen_toks": 32}

_QUESTION = "Question: "
_PROMPT = jinja2.Environment(keep_trailing_newline=True, autoescape=False).from_string(
    "{% for p in passages %}[{{ p.doc_id }}] {{ p.text }}\n\n{% endfor %}" + _QUESTION + "{{ question }}\nAnswer:"
)


class Passage(Protocol):
    @property
    def doc_id(self) -> str: ...

    @property
    def text(self) -> str: ...


class Reader(Protocol):
    """The LM that reads the prompt; `HFCausalLM` is one. Its tokenizer measures the context."""

    max_length: int

    def render(self, context: str) -> str:
        """What the model is actually given for a context (a chat model wraps it in its template)."""
        ...

    def encode(self, text: str) -> list[int]: ...

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]: ...

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]: ...

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]: ...


def format_rag_prompt(passages: Sequence[Passage], question: str) -> str:
    """Each passage as `[doc_id] text` and a blank line, best first; then `Question: ...` and `Answer:`."""
    return _PROMPT.render(passages=passages, question=question.strip())


_LABEL = re.compile(r"(?:^|(?<=\n\n))\[[^\n]*?\] ")  # a passage's paragraph opening "[x] " reads as one too


def passage_labels(prompt: str) -> list[tuple[int, int]]:
    """The (start, end) of each `[doc_id] ` label of a `format_rag_prompt` prompt's passages: where the
    passage came from, no text of it (an extractive reader must not answer with a file name)."""
    return [m.span() for m in _LABEL.finditer(prompt, 0, passages_end(prompt))]


def passages_end(prompt: str) -> int:
    """Where the question of a `format_rag_prompt` prompt begins: the text before it is the passages
    (none in a closed-book prompt); a prompt without a question is all material."""
    at = prompt.rfind(_QUESTION)
    return len(prompt) if at < 0 else at


@dataclass(frozen=True)
class RagAnswer:
    """The generated text, the doc ids it was given (its citations, best first) and those passages."""

    text: str
    citations: list[str]
    passages: list[Passage]


class RagLM(LM):
    """A reader LM behind a retriever. An extractive one has the reader copy its answer from the
    passages (`engine.copying`): exact copies of names a small reader would garble, but no answer
    that is not written in them. One with `sentences=N` shows the reader only the N retrieved
    sentences closest to the question."""

    def __init__(self, reader: Reader, searcher: Searcher, *, k: int = 5, mode: str = "hybrid",
                 extractive: bool = False, sentences: int | None = None):
        if k < 1:
            raise UserError(f"k={k}: RAG needs at least one passage to retrieve")
        if sentences is not None and sentences < 1:
            raise UserError(f"sentences={sentences}: keep at least one sentence (or leave it unset: whole passages)")
        if mode not in MODES:
            raise UserError(f"unknown search mode {mode!r}; accepted: {', '.join(MODES)}")
        self.reader = reader
        self.searcher = searcher
        self.k = k
        self.mode = mode
        self.extractive = extractive
        self.sentences = sentences

    def fingerprint(self) -> str | None:
        """The reader's, the index's and how passages are chosen; None when the reader or the searcher has none."""
        reader = getattr(self.reader, "fingerprint", lambda: None)()
        index = getattr(self.searcher, "index", None)
        if reader is None or index is None:
            return None
        from adaptlab.fingerprint import digest

        return digest(reader, index.fingerprint(), self.k, self.mode, self.extractive, self.sentences)

    def narrowed(self, questions: Sequence[str], passages: Sequence[Sequence[Hit]],
                 required: Sequence[str] | None = None) -> Sequence[Sequence[Passage]]:
        """The passages as the reader sees them: whole, or cut to their `sentences` closest to the question."""
        if self.sentences is None:
            return passages
        return compress(questions, passages, self.searcher.embedder, self.sentences, required=required)

    def fit_prompt(self, passages: Sequence[Passage], question: str, reserved: int) -> tuple[str, list[Passage]]:
        """The prompt with as many of the best passages as leave `reserved` tokens free, and those passages."""
        room = self.reader.max_length - reserved - 1  # the reader puts a start token before the prompt
        for n in range(len(passages), 0, -1):
            prompt = format_rag_prompt(passages[:n], question)
            if len(self.reader.encode(self.reader.render(prompt))) <= room:
                return prompt, list(passages[:n])
        return format_rag_prompt([], question), []

    def answers(self, questions: Sequence[str], gen_kwargs: dict[str, Any] | None = None) -> list[RagAnswer]:
        """Answer each question from its retrieved passages (retrieval runs as one batch)."""
        return self._answer([(q, gen_kwargs or DEFAULT_GEN_KWARGS) for q in questions])

    def answer(self, question: str, gen_kwargs: dict[str, Any] | None = None) -> RagAnswer:
        return self.answers([question], gen_kwargs)[0]

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        return [a.text for a in self._answer(requests)]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        fitted = self.fitted_prompts([context for context, _ in requests],
                                     [len(self.reader.encode(continuation)) for _, continuation in requests])
        return self.reader.loglikelihood([(p, continuation) for (p, _), (_, continuation) in zip(fitted, requests)])

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """A whole text asks no question, so it is scored by the reader alone."""
        return self.reader.loglikelihood_rolling(texts)

    def fitted_prompts(self, questions: Sequence[str], reserved: Sequence[int]) -> list[tuple[str, list[Passage]]]:
        """Each question's prompt over its retrieved passages (retrieval runs as one batch), fitted to
        leave its `reserved` tokens free, and the passages kept."""
        hits = self.narrowed(questions, self.searcher.search(list(questions), k=self.k, mode=self.mode))
        return [self.fit_prompt(h, q, r) for q, h, r in zip(questions, hits, reserved)]

    def _answer(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[RagAnswer]:
        fitted = self.fitted_prompts([q for q, _ in requests],
                                     [GenerationSettings.from_gen_kwargs(kw).max_new_tokens for _, kw in requests])
        texts = self.reader.generate_until([(prompt, self.reading(kw, used))
                                            for (prompt, used), (_, kw) in zip(fitted, requests)])
        return [RagAnswer(text, unique_docs(h.doc_id for h in used), used) for text, (_, used) in zip(texts, fitted)]

    def reading(self, gen_kwargs: dict[str, Any], passages: Sequence[Passage]) -> dict[str, Any]:
        """The generation settings for a reader given `passages`: an extractive RAG asks for a span of them."""
        return {**gen_kwargs, "copy_from": [p.text for p in passages]} if self.extractive else gen_kwargs
