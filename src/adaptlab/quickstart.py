"""The main job on its embedded default: train a small language model from scratch.

Everything comes from the Python installation itself (its documentation topics and
standard-library docstrings), so it runs offline on any machine: prepare the corpus,
train a byte-level BPE tokenizer, encode shards, pretrain a decoder, then report
held-out loss, perplexity and bits per byte, the loss curve and a few samples.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console

from adaptlab.corpus.builtin import write_general_corpus
from adaptlab.corpus.documents import read_documents, split_path
from adaptlab.engine.generate import generate
from adaptlab.engine.requests import GenerationSettings
from adaptlab.evaluation.perplexity import causal_metrics
from adaptlab.lm import HFCausalLM
from adaptlab.runs import load_model, write_eval
from adaptlab.tokenization.shards import encode_corpus
from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer
from adaptlab.train.loop import pretrain
from adaptlab.train.settings import PretrainConfig

console = Console(soft_wrap=True)

PROMPTS = ("Return the", "The module", "This function")
QUICKSTART_MODEL = {"family": "decoder", "size": "1m", "max_seq_len": 128}
QUICKSTART_TRAIN = {"batch_size": 16, "seq_len": 128, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 50,
                    "eval_every": 100, "eval_batches": 16, "checkpoint_every": 250, "log_every": 10, "seed": 1337}


def run_quickstart(work: Path, *, steps: int = 1000, vocab_size: int = 2048) -> dict[str, float]:
    """Run every stage into `work` (replaced) and return the held-out figures."""
    started = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    corpus, tok_dir, shards, run = work / "corpus", work / "tokenizer", work / "shards", work / "run"

    console.rule("1/5 corpus: Python's own documentation text")
    for line in write_general_corpus(corpus).lines():
        console.print(line, highlight=False)

    console.rule(f"2/5 tokenizer: byte-level BPE, {vocab_size} tokens")
    tokenizer = train_tokenizer(iter_corpus_texts(corpus), "bpe", vocab_size, tok_dir, show_progress=False)
    meta = encode_corpus(corpus, tokenizer, shards, progress=False)
    for split, info in meta["splits"].items():
        console.print(f"{split}: {info['tokens']:,} tokens from {info['bytes']:,} bytes", highlight=False)

    console.rule(f"3/5 pretrain: Llama-style decoder, {steps} steps")
    cfg = PretrainConfig(data=shards, out=run, model=QUICKSTART_MODEL, train={**QUICKSTART_TRAIN, "steps": steps})
    result = pretrain(cfg)
    console.print(f"{result.parameters:,} parameters, {result.steps} steps ({result.stopped}), "
                  f"{result.tokens_per_second:,.0f} tokens/s, {result.wall_seconds:.0f} s", highlight=False)

    console.rule("4/5 held-out evaluation (every validation token scored once)")
    loaded = load_model(run)
    texts = [d.text for d in read_documents(split_path(corpus, "validation"))]
    metrics = causal_metrics(HFCausalLM(loaded.model, loaded.tokenizer), texts)
    write_eval(run, "validation_full", metrics)
    console.print(f"loss {metrics['loss']:.3f} nats/token   perplexity {metrics['perplexity']:.1f}   "
                  f"bits per byte {metrics['bits_per_byte']:.3f}", highlight=False)
    console.print(f"loss curve: {run / 'loss_curve.png'}", highlight=False)

    console.rule("5/5 samples (temperature 0.8, top-k 50)")
    settings = GenerationSettings(max_new_tokens=48, temperature=0.8, top_k=50, seed=0)
    for prompt, sample in zip(PROMPTS, generate(loaded.model, loaded.tokenizer, PROMPTS, settings)):
        console.print(f"[bold]{prompt}[/]{sample.text}", highlight=False)
    console.print(f"done in {time.perf_counter() - started:.0f} s; run folder {run}", highlight=False)
    return metrics
