"""Every weight-adaptation method on one base and one domain, side by side.

What it does
    1. Base: a Llama-style decoder pretrained on the built-in general English corpus
       (as `adaptlab quickstart` trains it), or `--base RUN`.
    2. Domain: the synthetic pharmacology domain (seed 0), encoded with the base's tokenizer.
    3. Each method adapts the base on the domain's token shards for the same number of
       steps, each in its own process (so its peak resident memory is its own):
       full continued pretraining, LoRA, DoRA, QLoRA, IA3, prefix and prompt tuning,
       bottleneck adapters (Houlsby, Pfeiffer, parallel, scaled parallel), and domain
       tokens followed by full continued pretraining.
    4. Measures domain and general bits per byte (what was learned, what was forgotten),
       trainable share, peak memory, step time and artifact size; tokens per byte before
       and after domain tokens; and behavioural SFT on the strict-format instructions
       of seed 0's training split and of `--sft-practice` fresh synthetic domains (format
       compliance on seed 0's held-out instructions, the base's figure beside it).
    5. Memory at scale: at 1.3M parameters the ~600 MB of imported libraries hide what the
       optimizer costs, so full fine-tuning and LoRA are also run for a few steps on a larger
       preset (30m by default), each in its own process: trainable share, peak resident
       memory, step time. Memory does not depend on the weights' values, so that base is
       freshly initialised rather than pretrained.

Usage (from the repo root)
    .venv/bin/python benchmarks/finetune.py [--steps 300] [--base RUN] [--sections methods,tokens,behaviour,memory]
        [--json out.json]
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.corpus.builtin import write_general_corpus
from adaptlab.corpus.documents import read_documents, split_path, write_jsonl
from adaptlab.corpus.prepare import prepare_corpus
from adaptlab.corpus.synth import practice_domains, synthesize
from adaptlab.evaluation.tasks import format_compliance, read_instructions
from adaptlab.evaluation.perplexity import causal_metrics
from adaptlab.lm import HFCausalLM
from adaptlab.runs import load_model
from adaptlab.tokenization.shards import encode_corpus
from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

console = Console(width=140)

# method -> extra CLI flags; the learning rate each family of methods is usually given
METHODS: dict[str, list[str]] = {
    "full": ["--method", "full", "--lr", "1e-3"],
    "lora": ["--method", "lora", "--r", "8", "--lr", "5e-3"],
    "dora": ["--method", "dora", "--r", "8", "--lr", "5e-3"],
    "qlora": ["--method", "qlora", "--r", "8", "--lr", "5e-3"],
    "ia3": ["--method", "ia3", "--lr", "1e-2"],
    "prefix": ["--method", "prefix", "--virtual-tokens", "16", "--lr", "1e-2"],
    "prompt": ["--method", "prompt", "--virtual-tokens", "16", "--lr", "1e-2"],
    "houlsby": ["--method", "houlsby", "--r", "16", "--lr", "5e-3"],
    "pfeiffer": ["--method", "pfeiffer", "--r", "16", "--lr", "5e-3"],
    "parallel": ["--method", "parallel", "--r", "16", "--lr", "5e-3"],
    "scaled_parallel": ["--method", "scaled_parallel", "--r", "16", "--lr", "5e-3"],
}
TRAIN_FLAGS = ["--seq-len", "128", "--batch-size", "16", "--warmup-steps", "20"]
# An instruction prompt is ~170 tokens and its answer up to ~60: SFT and its evaluation need a longer context.
SFT_SEQ_LEN = 512
SFT_WARMUP = ["--warmup-steps", "20"]  # with --seq-len and --batch-size, set by each caller
TOKENS_PER_STEP = 2048
SECTIONS = ("methods", "tokens", "behaviour", "memory")


def adaptlab(*args: str) -> None:
    """Run one adaptlab command in its own process (its peak memory is then its own)."""
    subprocess.run([sys.executable, "-m", "adaptlab", *args], check=True, stdout=subprocess.DEVNULL)


def build_base(work: Path, steps: int, seq_len: int, size: str = "1m", batch_size: int | None = None,
               lr: str = "2e-3", family: str = "decoder") -> Path:
    """The quickstart's recipe with a longer context (by default the same tokens per step)."""
    corpus = work / "general"
    write_general_corpus(corpus)
    tokenizer = train_tokenizer(iter_corpus_texts(corpus), "bpe", 2048, work / "tokenizer", show_progress=False)
    encode_corpus(corpus, tokenizer, work / "general-shards", progress=False)
    adaptlab("pretrain", "--data", str(work / "general-shards"), "--out", str(work / "base"), "--family", family,
             "--size", size,
             "--steps", str(steps), "--eval-every", str(steps), "--lr", lr, "--seq-len", str(seq_len),
             "--batch-size", str(batch_size or max(1, TOKENS_PER_STEP // seq_len)), "--warmup-steps", "20")
    return work / "base"


def memory_at_scale(work: Path, size: str, steps: int) -> dict[str, dict[str, Any]]:
    """Full fine-tuning and LoRA of one freshly initialised `size` model: share, peak RSS, step time."""
    base = work / f"base-{size}"
    adaptlab("pretrain", "--data", str(work / "domain-shards"), "--out", str(base), "--size", size, "--steps", "1",
             "--eval-every", "1", *TRAIN_FLAGS)
    figures = {}
    for name in ("full", "lora"):
        run = work / f"scale-{size}-{name}"
        adaptlab("finetune", "--base", str(base), "--data", str(work / "domain-shards"), "--steps", str(steps),
                 "--eval-every", str(steps), *TRAIN_FLAGS, "--out", str(run), *METHODS[name])
        figures[name] = json.loads((run / "cost.json").read_text())
    return figures


def bits_per_byte(run: Path, texts: list[str]) -> float:
    loaded = load_model(run)
    return causal_metrics(HFCausalLM(loaded.model, loaded.tokenizer), texts)["bits_per_byte"]


def measure(run: Path, domain: list[str], general: list[str]) -> dict[str, Any]:
    figures = {"domain_bpb": bits_per_byte(run, domain), "general_bpb": bits_per_byte(run, general)}
    cost = run / "cost.json"
    return {**figures, **(json.loads(cost.read_text()) if cost.exists() else {})}


def main(
    steps: Annotated[int, typer.Option(help="adaptation steps per method")] = 300,
    base_steps: Annotated[int, typer.Option(help="pretraining steps of the base, when it is trained here")] = 1000,
    base_seq_len: Annotated[int, typer.Option(help="context of the base, when it is trained here")] = 512,
    base_size: Annotated[str, typer.Option(help="model preset of the base, when it is trained here")] = "1m",
    sft_steps: Annotated[int, typer.Option(help="behavioural SFT steps")] = 1000,
    sft_batch_size: Annotated[int, typer.Option(help="behavioural SFT sequences per step")] = 8,
    sft_practice: Annotated[int, typer.Option(help="fresh synthetic domains whose instructions join SFT")] = 16,
    memory_size: Annotated[str, typer.Option(help="preset for the memory-at-scale comparison")] = "30m",
    memory_steps: Annotated[int, typer.Option(help="steps of each run in the memory comparison")] = 10,
    base: Annotated[Path | None, typer.Option(help="an existing base run (else one is pretrained)")] = None,
    methods: Annotated[str, typer.Option(help="comma-separated subset of the methods")] = ",".join(METHODS),
    workdir: Annotated[Path | None, typer.Option(help="where everything goes (default: a temp dir)")] = None,
    sections: Annotated[str, typer.Option(help="comma-separated: " + ", ".join(SECTIONS))] = ",".join(SECTIONS),
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON")] = None,
) -> None:
    work = workdir or Path(tempfile.mkdtemp(prefix="adaptlab-finetune-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    base = base or build_base(work, base_steps, base_seq_len, base_size)
    tokenizer_dir = load_model(base).path

    synthesize(work / "synth", seed=0)
    prepare_corpus([work / "synth" / "docs"], work / "domain")
    from adaptlab.tokenization.train import load_tokenizer

    encode_corpus(work / "domain", load_tokenizer(tokenizer_dir), work / "domain-shards", progress=False)
    domain = [d.text for d in read_documents(split_path(work / "domain", "validation"))]
    general_dir = work / "general"
    if not general_dir.exists():
        write_general_corpus(general_dir)
    general = [d.text for d in read_documents(split_path(general_dir, "validation"))]

    figures: dict[str, Any] = {}
    wanted = set(sections.split(","))
    if unknown := wanted - set(SECTIONS):
        raise typer.BadParameter(f"unknown sections {sorted(unknown)}; accepted: {', '.join(SECTIONS)}")
    if "methods" in wanted:
        figures["methods"] = adapt_each(work, base, methods.split(","), steps, domain, general)
        report_methods(figures["methods"])
    if "tokens" in wanted:
        figures["methods"] = {**figures.get("methods", {}), **domain_tokens(work, base, steps, domain, general)}
        figures["domain_tokens"] = json.loads((work / "extended" / "domain_tokens.json").read_text())
        report_methods(figures["methods"])
        report_tokens(figures["domain_tokens"])
    if "behaviour" in wanted:
        figures["format_compliance"] = scores = behaviour(work, base, sft_steps, sft_batch_size, sft_practice)
        console.print(f"format compliance on held-out instructions: base {scores['base']:.3f}, after behavioural SFT "
                      f"{scores['sft']:.3f} ({scores['instructions_trained']:,} instructions, {sft_steps} steps)")
        for failure in scores["failures"][:5]:
            console.print(f"  not compliant: {failure['answer']!r} (reference {failure['reference']!r})")
    if "memory" in wanted:
        figures[f"memory_{memory_size}"] = scale = memory_at_scale(work, memory_size, memory_steps)
        report_memory(scale, memory_size)
    console.print(f"wall time {time.perf_counter() - started:.0f} s; work folder {work}")
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2, default=str))


def adapt_each(work: Path, base: Path, names: list[str], steps: int, domain: list[str],
               general: list[str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {"base": measure(base, domain, general)}
    common = ["--base", str(base), "--data", str(work / "domain-shards"), "--steps", str(steps),
              "--eval-every", str(steps), *TRAIN_FLAGS]
    for name in names:
        run = work / f"ft-{name}"
        adaptlab("finetune", *common, "--out", str(run), *METHODS[name])
        results[name] = measure(run, domain, general)
        console.print(f"{name}: {results[name]}")
    return results


def domain_tokens(work: Path, base: Path, steps: int, domain: list[str],
                  general: list[str]) -> dict[str, dict[str, Any]]:
    """Domain tokens, then full continued pretraining on shards encoded with the extended tokenizer."""
    adaptlab("tokenizer", "extend", str(base), "--corpus", str(work / "domain"), "--out", str(work / "extended"))
    encode_corpus(work / "domain", load_model(work / "extended").tokenizer, work / "domain-shards-ext", progress=False)
    adaptlab("finetune", "--base", str(work / "extended"), "--data", str(work / "domain-shards-ext"), "--steps",
             str(steps), "--eval-every", str(steps), *TRAIN_FLAGS, "--out", str(work / "ft-tokens+full"),
             *METHODS["full"])
    return {"tokens+full": measure(work / "ft-tokens+full", domain, general)}


def behaviour(work: Path, base: Path, steps: int, batch_size: int, practice: int) -> dict[str, Any]:
    """Supervised fine-tuning on the strict-format instructions (seed 0's training split and both
    splits of `practice` fresh domains); compliance on seed 0's held-out ones."""
    instructions = read_instructions(work / "synth" / "instructions_eval.jsonl")
    plain = load_model(base)  # asked through the chat template too, as the SFT model will be
    scores: dict[str, Any] = {"base": format_compliance(HFCausalLM(plain.model, plain.tokenizer, chat=True),
                                                        instructions)["format_compliance"]}
    train = [*read_instructions(work / "synth" / "instructions_train.jsonl"),
             *(r for d in practice_domains(practice) for f in ("instructions_train.jsonl", "instructions_eval.jsonl")
               for r in d.records[f])]
    write_jsonl(work / "sft.jsonl", [{"prompt": r["prompt"], "response": r["response"]} for r in train])
    adaptlab("finetune", "--base", str(base), "--sft", str(work / "sft.jsonl"), "--steps", str(steps),
             "--eval-every", str(steps), "--seq-len", str(SFT_SEQ_LEN), *SFT_WARMUP, "--batch-size", str(batch_size),
             "--out", str(work / "sft"), *METHODS["full"])
    result = format_compliance(HFCausalLM.from_path(work / "sft"), instructions)
    scores.update(sft=result["format_compliance"], instructions_trained=len(train), failures=result["failures"])
    return scores


def report_methods(results: dict[str, dict[str, Any]]) -> None:
    table = Table(title="weight adaptation on the synthetic domain (lower bits per byte is better)")
    for column in ("method", "domain bpb", "general bpb", "trainable", "share", "peak RSS MB", "step s", "artifact"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['domain_bpb']:.3f}", f"{r['general_bpb']:.3f}",
                      f"{r.get('trainable_parameters', 0):,}", f"{r.get('trainable_share', 0):.2%}",
                      f"{r.get('peak_rss_mb', 0):.0f}", f"{r.get('step_seconds', 0):.3f}",
                      f"{r.get('artifact_bytes', 0) / 1e6:.2f} MB")
    console.print(table)


def report_tokens(extension: dict[str, Any]) -> None:
    tpb = extension["tokens_per_byte"]
    console.print(f"domain tokens: {len(extension['terms'])} terms, vocabulary {extension['vocab_before']:,} -> "
                  f"{extension['vocab_after']:,}; tokens per byte on {extension['measured_on']}: "
                  f"{tpb['before']:.4f} -> {tpb['after']:.4f} ({extension['reduction']:.1%} fewer)")


def report_memory(scale: dict[str, dict[str, Any]], size: str) -> None:
    for name, c in scale.items():
        console.print(f"{size} preset, {name}: {c['trainable_parameters']:,} of {c['parameters']:,} parameters "
                      f"trained ({c['trainable_share']:.2%}), peak RSS {c['peak_rss_mb']:.0f} MB, "
                      f"step {c['step_seconds']:.3f} s")
    full, lora = scale["full"]["peak_rss_mb"], scale["lora"]["peak_rss_mb"]
    console.print(f"LoRA peak RSS is {lora / full:.2f}x full fine-tuning's ({full - lora:+.0f} MB saved)")


if __name__ == "__main__":
    typer.run(main)
