"""The generation engine's speed-ups, measured: KV cache, prefix cache, speculative decoding.

What it does
    0. Data: the built-in general English corpus, a 2048-token byte-level BPE tokenizer
       and token shards (as `adaptlab quickstart` makes them), reused from --workdir.
    1. kv: greedy decoding of 256 new tokens after a 32-token prompt by the quickstart-size
       decoder (1m preset, freshly initialised with a 512-token context, or --model RUN),
       with the KV cache and without it (every step re-runs the whole sequence): tokens/s of
       each and their ratio. A single request goes through the engine's own loop, whose
       compact Llama forward (`engine.llama_decoder`) spends ~16 operations per layer on a
       cached step where transformers' spends ~40: at batch 1 on a CPU those operations, not
       the arithmetic, set the speed. transformers' generate is measured beside it for a
       batch of 1, 4 and 8 prompts (--kv-batches), where a batch gives each step arithmetic
       the cache saves.
    2. prefix: time to first token for a 512-token shared prefix (validation text) plus a
       short question, on a decoder with a 1024-token context: with no prefix cache, on
       a prefix-cache miss (runs everything, stores the blocks) and on a hit (another
       question over the same prefix came first); the no-cache / hit ratio.
    3. speculative: a target (--target-layers, 16 by default, x 128 wide; 1500 steps) and a draft
       (1 layer x 128 wide; 400 steps) trained here on the general corpus through `adaptlab pretrain`,
       or --target RUN --draft RUN. Both models' held-out bits per byte are printed first: a
       target no better than its draft (an undertrained deep one) accepts more of the draft's
       tokens than a real pair would, so the acceptance rate is only meaningful beside them.
       Greedy decoding of held-out prompts by the target alone and speculatively (both on
       the engine's KV-cache loop, outputs checked identical): acceptance rate alpha (the
       accepted share of the proposals the target judged), lookahead gamma, cost ratio c
       (one-token forward time of the draft over the target's, measured), measured speedup,
       Leviathan et al.'s predicted speedup (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma c + 1))
       and measured / predicted.

How to read it
    - Contenders alternate within each repetition, so both see the same machine noise; the
      machine may be shared, and the ratios are the figures to read. kv and prefix report
      the median repetition. Speculative decoding compares whole generations that differ by
      tens of percent while a neighbour's load swings a single one by more than that, so it
      reports each contender's fastest repetition (timeit's convention: interference only
      adds time), and c and the verify cost come from blocks of 8 one-token and
      (gamma+1)-token passes alternated 12 times, fastest block of each.
    - The formula assumes the target scores gamma + 1 tokens in the time it scores one;
      the verify-cost column shows what that pass really costs here, relative to one token,
      and the last prediction puts it in the denominator (gamma c + verify cost). On a GPU
      a few more rows are free; on this CPU they are not: the BLAS runs one row as a
      streaming gemv and several as a gemm that repacks the weights on every call.
      Tokens per target pass, measured beside the formula's (1 - alpha^(gamma+1)) / (1 - alpha),
      separates how well the acceptance model fits from how well the cost model fits.
    - Figures are printed, never asserted.

Usage (from the repo root)
    .venv/bin/python benchmarks/engine.py [--sections kv,prefix,speculative] [--model RUN] [--device cuda]
        [--target RUN --draft RUN] [--lookahead 2,4,6] [--threads N] [--workdir DIR] [--json out.json]
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
import yaml
from rich.console import Console
from rich.table import Table
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from adaptlab.corpus.builtin import write_general_corpus
from adaptlab.corpus.documents import read_documents, split_path
from adaptlab.engine.decode import cached_step, decode_steps, forward, new_cache, token_steps
from adaptlab.engine.llama_decoder import CompactLlama
from adaptlab.engine.prefix_cache import PrefixCachingGenerator
from adaptlab.engine.requests import GenerationSettings, prompt_tokens
from adaptlab.engine.sampling import rng_for
from adaptlab.engine.speculative import SpeculativeDecoder, SpeculativeStats
from adaptlab.evaluation.perplexity import evaluate_texts
from adaptlab.models.presets import ModelConfig, SpecialIds, build_model
from adaptlab.runs import LoadedModel, load_model
from adaptlab.tokenization.shards import encode_corpus
from adaptlab.tokenization.train import iter_corpus_texts, load_tokenizer, train_tokenizer

console = Console(width=140)

SECTIONS = ("kv", "prefix", "speculative")
KV_PROMPT, KV_NEW = 32, 256
PREFIX_TOKENS = 512
QUESTIONS = ("\nQuestion: what is this about?\nAnswer:", "\nIn one line:", "\nThe key point is",
             "\nSummary:", "\nA question it answers:", "\nWhat follows from this?", "\nNotes:")
TARGET = {"family": "decoder", "hidden_size": 128, "num_layers": 16, "num_heads": 4, "max_seq_len": 256}
DRAFT = {"family": "decoder", "hidden_size": 128, "num_layers": 1, "num_heads": 4, "max_seq_len": 256}
TRAIN = {"seq_len": 128, "batch_size": 16, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 30, "log_every": 25,
         "checkpoint_every": 10_000, "eval_batches": 8, "seed": 1337}
SPEC_PROMPT, SPEC_NEW = 32, 128


# --- data and models ----------------------------------------------------------------
def prepare(work: Path) -> tuple[Path, Path, list[str]]:
    """General corpus, tokenizer and shards in `work` (made once); the validation texts."""
    corpus, tok_dir, shards = work / "general", work / "tokenizer", work / "general-shards"
    if not (shards / "meta.json").is_file():
        write_general_corpus(corpus)
        tokenizer = train_tokenizer(iter_corpus_texts(corpus), "bpe", 2048, tok_dir, show_progress=False)
        encode_corpus(corpus, tokenizer, shards, progress=False)
    texts = [d.text for d in read_documents(split_path(corpus, "validation"))]
    return tok_dir, shards, texts


def fresh_decoder(tokenizer: PreTrainedTokenizerBase, size: str, max_seq_len: int) -> PreTrainedModel:
    torch.manual_seed(0)
    ids = SpecialIds(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    return build_model(ModelConfig(size=size, max_seq_len=max_seq_len), len(tokenizer), ids).eval()


def context(model: PreTrainedModel) -> int:
    return model.config.max_position_embeddings


def head(tokenizer: PreTrainedTokenizerBase, text: str, n: int) -> str:
    """The text of the first `n` tokens of `text`."""
    return tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:n])


def long_texts(texts: list[str], tokenizer: PreTrainedTokenizerBase, tokens: int) -> list[str]:
    return [t for t in texts if len(tokenizer(t, add_special_tokens=False)["input_ids"]) >= tokens]


def alternate(contenders: dict[str, Callable[[], Any]], reps: int,
              pick: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Seconds of each contender (the median of its repetitions, or `pick`), the contenders
    alternating within each repetition."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: pick(values) for name, values in times.items()}


# --- 1. KV cache --------------------------------------------------------------------
def kv_section(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], reps: int,
               batches: list[int]) -> dict[str, Any]:
    """Tokens/s with and without the cache: the engine's loop at batch 1 (what a single request
    gets), transformers' generate at each batch size; greedy outputs compared."""
    prompts = [[tokenizer.eos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"][:KV_PROMPT]]
               for t in texts[: max(batches)]]

    def hf_decode(ids: torch.Tensor, use_cache: bool) -> list[list[int]]:
        with torch.no_grad():  # min_new_tokens: an untrained model's EOS must not cut the run short
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=KV_NEW,
                                 min_new_tokens=KV_NEW, do_sample=False, use_cache=use_cache,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        return out[:, ids.size(1) :].tolist()

    def engine_decode(use_cache: bool) -> list[list[int]]:  # no EOS: all KV_NEW tokens, as min_new_tokens
        settings = GenerationSettings(max_new_tokens=KV_NEW, temperature=0, use_cache=use_cache)
        return [list(token_steps(model, prompts[0], settings, None))]

    compact = CompactLlama.of(model) is not None
    console.print(f"1. KV cache: {KV_NEW} new tokens after a {KV_PROMPT + 1}-token prompt, greedy; tokens/s counts "
                  f"every sequence of the batch. The engine's loop runs a single request "
                  f"({'compact Llama forward' if compact else 'transformers forward: not a plain Llama'}); "
                  "transformers' generate runs batches", highlight=False)
    table = Table()
    for col in ("decoding", "batch", "with KV cache, tokens/s", "without", "ratio", "same tokens"):
        table.add_column(col, justify="right")
    rows = []
    contenders = [("engine", 1, lambda cache: engine_decode(cache))]
    for batch in batches:
        ids = torch.tensor(prompts[:batch], device=model.device)
        contenders.append(("transformers", batch, lambda cache, ids=ids: hf_decode(ids, cache)))
    for name, batch, decode in contenders:
        outputs = decode(True), decode(False)  # also the warm-up
        same = outputs[0] == outputs[1] == hf_decode(torch.tensor(prompts[:batch], device=model.device), True)
        times = alternate({"cache": lambda: decode(True), "no cache": lambda: decode(False)}, reps)
        row = {"decoding": name, "batch": batch, "tokens_per_second_cache": batch * KV_NEW / times["cache"],
               "tokens_per_second_no_cache": batch * KV_NEW / times["no cache"],
               "speedup": times["no cache"] / times["cache"], "same_tokens": same}
        table.add_row(name, str(batch), f"{row['tokens_per_second_cache']:,.1f}",
                      f"{row['tokens_per_second_no_cache']:,.1f}", f"{row['speedup']:.2f}x", str(same))
        rows.append(row)
    console.print(table)
    console.print("without the cache every step re-runs the whole sequence (the engine: into an empty cache; "
                  "transformers: use_cache=False); same tokens: both equal transformers' cached greedy output",
                  highlight=False)
    return {"prompt_tokens": KV_PROMPT + 1, "new_tokens": KV_NEW, "by_batch": rows}


# --- 2. prefix cache ----------------------------------------------------------------
def prefix_section(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str,
                   reps: int) -> dict[str, Any]:
    prefix = head(tokenizer, text, PREFIX_TOKENS)
    first = GenerationSettings(max_new_tokens=1, temperature=0)
    rng = rng_for(first)
    warm = PrefixCachingGenerator(model, tokenizer)
    warm.generate(prefix + QUESTIONS[0], first)  # another question over the prefix came first
    asked = itertools.count()
    hits: list[int] = []

    def no_cache() -> None:
        ids = prompt_tokens(model, tokenizer, prefix + QUESTIONS[1 + next(asked) % 6], 1)
        cache = new_cache(model)
        next(decode_steps(forward(model, ids, cache, keep=1)[-1], cached_step(model, cache), first, None, rng))

    def miss() -> None:
        run = PrefixCachingGenerator(model, tokenizer).prefill(prefix + QUESTIONS[1 + next(asked) % 6], first)
        next(run.tokens)

    def hit() -> None:
        run = warm.prefill(prefix + QUESTIONS[1 + next(asked) % 6], first)
        next(run.tokens)
        hits.append(run.cached_tokens)

    no_cache(), miss(), hit()  # warm-up
    times = alternate({"no prefix cache": no_cache, "cache miss": miss, "cache hit": hit}, reps)
    prompt_len = len(prompt_tokens(model, tokenizer, prefix + QUESTIONS[1], 1))
    fig = {"prompt_tokens": prompt_len, "cached_tokens": min(hits), **{f"ttft_ms_{k.replace(' ', '_')}": v * 1000
                                                                      for k, v in times.items()},
           "speedup": times["no prefix cache"] / times["cache hit"], "cache_bytes": warm.cache.nbytes}
    console.print(f"2. prefix cache: time to first token, a {PREFIX_TOKENS}-token shared prefix + a question "
                  f"(~{prompt_len} tokens), context {context(model)}", highlight=False)
    table = Table()
    for col in ("", "TTFT ms", "ratio"):
        table.add_column(col, justify="right")
    for name, seconds in times.items():
        table.add_row(name, f"{seconds * 1000:.1f}", f"{times['no prefix cache'] / seconds:.2f}x")
    console.print(table)
    console.print(f"a hit reused {fig['cached_tokens']} of ~{prompt_len} prompt tokens; the cache holds "
                  f"{fig['cache_bytes'] / 2**20:.1f} MiB")
    return fig


# --- 3. speculative decoding ----------------------------------------------------------
def train_run(work: Path, shards: Path, name: str, model: dict[str, Any], steps: int) -> Path:
    """A decoder pretrained through the CLI in its own process, or the one already in `work`."""
    out = work / name
    if (out / "adaptlab.yaml").is_file():
        return out
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"model": model, "train": {**TRAIN, "steps": steps, "eval_every": steps}}))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "adaptlab", "pretrain", "--config", str(config), "--data", str(shards),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    console.print(f"trained {name} ({model['num_layers']} x {model['hidden_size']}, {steps} steps) in "
                  f"{time.perf_counter() - started:.0f} s", highlight=False)
    return out


def forward_ms(passes: dict[str, tuple[PreTrainedModel, int]], ids: list[int], reps: int = 12,
               block: int = 8) -> dict[str, float]:
    """Ms of each forward pass (a model over `tokens` tokens after a cache of `ids`): `block`
    passes in a row, as a model runs while it decodes, then the next contender's; the fastest
    block of each, so every ratio between them is taken under the same machine load."""
    caches = {name: new_cache(model) for name, (model, _) in passes.items()}
    for name, (model, _) in passes.items():
        forward(model, ids, caches[name])

    def run(name: str) -> Callable[[], None]:
        model, tokens = passes[name]

        def passes_in_a_row() -> None:
            for _ in range(block):
                forward(model, ids[:tokens], caches[name])
                caches[name].crop(-tokens)
            if model.device.type == "cuda":
                torch.cuda.synchronize(model.device)
        return passes_in_a_row

    times = alternate({name: run(name) for name in passes}, reps, pick=min)
    return {name: seconds * 1000 / block for name, seconds in times.items()}


def greedy_alone(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str, new: int) -> list[int]:
    """The target decoding alone on the engine's KV-cache loop (the same forward calls speculative uses)."""
    settings = GenerationSettings(max_new_tokens=new, temperature=0)
    ids = prompt_tokens(model, tokenizer, prompt, new)
    return list(token_steps(model, ids, settings, tokenizer.eos_token_id))


def held_out_bpb(pair: tuple[LoadedModel, LoadedModel], texts: list[str]) -> dict[str, float]:
    """Bits per byte of the target and the draft on held-out text: speculative decoding pays off
    when the target is the better model, so the pair's quality is printed beside its speed."""
    bpb = {name: evaluate_texts(run, texts)["bits_per_byte"] for name, run in zip(("target", "draft"), pair)}
    console.print(f"held-out bits per byte ({len(texts)} validation texts): target {bpb['target']:.3f}, "
                  f"draft {bpb['draft']:.3f}", highlight=False)
    if bpb["target"] >= bpb["draft"]:
        console.print("the target is not the better model here: its acceptance rate says little about a real pair "
                      "(train it longer, --target-steps)", highlight=False)
    return bpb


def speculative_section(target: PreTrainedModel, draft: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                        prompts: list[str], lookaheads: list[int], reps: int) -> dict[str, Any]:
    settings = GenerationSettings(max_new_tokens=SPEC_NEW, temperature=0)
    probe = prompt_tokens(target, tokenizer, prompts[0], SPEC_NEW)[:SPEC_PROMPT]
    passes = {"draft": (draft, 1), "target": (target, 1)} | {f"verify {g}": (target, g + 1) for g in lookaheads}
    ms = forward_ms(passes, probe)
    draft_ms, target_ms = ms["draft"], ms["target"]
    c = draft_ms / target_ms
    rows = []
    for gamma in lookaheads:
        spec = SpeculativeDecoder(target, draft, tokenizer, lookahead=gamma)
        stats, alone_s, spec_s, same, tokens = SpeculativeStats(), 0.0, 0.0, True, 0
        for prompt in prompts:
            outs: dict[str, list[int]] = {}

            def run_alone() -> None:
                outs["alone"] = greedy_alone(target, tokenizer, prompt, SPEC_NEW)

            def run_spec() -> None:
                prompt_stats = SpeculativeStats()
                outs["spec"] = list(spec.stream(prompt, settings, prompt_stats))
                outs["stats"] = prompt_stats

            times = alternate({"alone": run_alone, "speculative": run_spec}, reps, pick=min)
            alone_s, spec_s = alone_s + times["alone"], spec_s + times["speculative"]
            same &= outs["alone"] == outs["spec"]
            tokens += len(outs["spec"])
            for field in ("proposed", "accepted", "rejected", "target_forwards", "draft_forwards"):
                setattr(stats, field, getattr(stats, field) + getattr(outs["stats"], field))
        alpha = stats.acceptance_rate
        per_pass = (1 - alpha ** (gamma + 1)) / (1 - alpha) if alpha < 1 else gamma + 1
        predicted = per_pass / (gamma * c + 1)
        verify = ms[f"verify {gamma}"] / target_ms
        rows.append({"lookahead": gamma, "alpha": alpha, "cost_ratio": c, "speedup": alone_s / spec_s,
                     "predicted": predicted, "measured_over_predicted": alone_s / spec_s / predicted,
                     "tokens": tokens, "target_forwards": stats.target_forwards, "draft_forwards": stats.draft_forwards,
                     "tokens_per_target_pass": tokens / stats.target_forwards,
                     "predicted_tokens_per_target_pass": per_pass, "verify_cost": verify,
                     "predicted_at_verify_cost": per_pass / (gamma * c + verify), "identical_to_target": same})
    console.print(f"3. speculative decoding: greedy, {len(prompts)} prompts x {SPEC_NEW} new tokens; one-token "
                  f"forward: draft {draft_ms:.2f} ms, target {target_ms:.2f} ms, c = {c:.3f}", highlight=False)
    table = Table()
    for col in ("gamma", "alpha", "speedup", "predicted", "meas./pred.", "tokens/pass (pred.)", "verify cost",
                "pred. at verify cost", "target/draft passes", "identical"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["lookahead"]), f"{r['alpha']:.3f}", f"{r['speedup']:.2f}x", f"{r['predicted']:.2f}x",
                      f"{r['measured_over_predicted']:.2f}",
                      f"{r['tokens_per_target_pass']:.2f} ({r['predicted_tokens_per_target_pass']:.2f})",
                      f"{r['verify_cost']:.2f}", f"{r['predicted_at_verify_cost']:.2f}x",
                      f"{r['target_forwards']} / {r['draft_forwards']}", str(r["identical_to_target"]))
    console.print(table)
    return {"draft_ms": draft_ms, "target_ms": target_ms, "cost_ratio": c, "by_lookahead": rows}


def main(
    sections: Annotated[str, typer.Option(help="comma-separated: " + ", ".join(SECTIONS))] = ",".join(SECTIONS),
    model: Annotated[Path | None, typer.Option(help="run for the kv and prefix sections (else freshly initialised)")]
    = None,
    size: Annotated[str, typer.Option(help="preset of the freshly initialised kv and prefix models")] = "1m",
    device: Annotated[str, typer.Option(help="where the models run: cpu or cuda")] = "cpu",
    target: Annotated[Path | None, typer.Option(help="speculative target run (else trained here)")] = None,
    draft: Annotated[Path | None, typer.Option(help="speculative draft run (else trained here)")] = None,
    target_steps: Annotated[int, typer.Option(help="pretraining steps of the target trained here")] = 1500,
    target_layers: Annotated[int, typer.Option(help="layers of the target trained here (the draft has 1)")] = 16,
    draft_steps: Annotated[int, typer.Option(help="pretraining steps of the draft trained here")] = 400,
    lookahead: Annotated[str, typer.Option(help="comma-separated lookaheads (gamma) to measure")] = "2,4,6",
    prompts: Annotated[int, typer.Option(help="held-out prompts for speculative decoding")] = 6,
    reps: Annotated[int, typer.Option(help="repetitions of each timing")] = 3,
    kv_batches: Annotated[str, typer.Option(help="kv: comma-separated batch sizes")] = "1,4,8",
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's, one per core)")] = None,
    workdir: Annotated[Path | None, typer.Option(help="where everything goes (default: a temp dir)")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON")] = None,
) -> None:
    wanted = sections.split(",")
    if unknown := set(wanted) - set(SECTIONS):
        raise typer.BadParameter(f"unknown sections {sorted(unknown)}; accepted: {', '.join(SECTIONS)}")
    if (target is None) != (draft is None):
        raise typer.BadParameter("give both --target and --draft, or neither (a pair is then trained here)")
    if threads:
        torch.set_num_threads(threads)
    work = workdir or Path(tempfile.mkdtemp(prefix="adaptlab-engine-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    where = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    console.print(f"engine benchmark: torch {torch.__version__}, {where}, work folder {work}", highlight=False)
    tok_dir, shards, texts = prepare(work)
    figures: dict[str, Any] = {"device": where}
    loaded = load_model(model, device=device) if model else None
    if "kv" in wanted:
        tokenizer = loaded.tokenizer if loaded else load_tokenizer(tok_dir)
        kv_model = loaded.model if loaded else fresh_decoder(tokenizer, size, 512).to(device)
        if context(kv_model) < KV_PROMPT + 1 + KV_NEW:
            console.print(f"kv skipped: the model's context {context(kv_model)} is under {KV_PROMPT + 1 + KV_NEW}")
        else:
            figures["kv"] = kv_section(kv_model, tokenizer, long_texts(texts, tokenizer, KV_PROMPT), reps,
                                       [int(b) for b in kv_batches.split(",")])
    if "prefix" in wanted:
        tokenizer = loaded.tokenizer if loaded else load_tokenizer(tok_dir)
        prefix_model = loaded.model if loaded else fresh_decoder(tokenizer, size, 1024).to(device)
        if context(prefix_model) < PREFIX_TOKENS + 32:
            console.print(f"prefix skipped: the model's context {context(prefix_model)} is under {PREFIX_TOKENS + 32}")
        else:
            figures["prefix"] = prefix_section(prefix_model, tokenizer,
                                               long_texts(texts, tokenizer, PREFIX_TOKENS)[0], reps * 3)
    if "speculative" in wanted:
        target = target or train_run(work, shards, f"target-{target_layers}", {**TARGET, "num_layers": target_layers},
                                     target_steps)
        draft = draft or train_run(work, shards, "draft", DRAFT, draft_steps)
        pair = load_model(target, device=device), load_model(draft, device=device)
        figures["speculative_bpb"] = held_out_bpb(pair, texts)
        chosen = [head(pair[0].tokenizer, t, SPEC_PROMPT) for t in long_texts(texts, pair[0].tokenizer, SPEC_PROMPT)]
        step = max(1, len(chosen) // prompts)
        figures["speculative"] = speculative_section(pair[0].model, pair[1].model, pair[0].tokenizer,
                                                     chosen[::step][:prompts],
                                                     [int(g) for g in lookahead.split(",")], reps)
    console.print(f"wall time {time.perf_counter() - started:.0f} s", highlight=False)
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
