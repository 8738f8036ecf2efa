"""The `adaptlab` command line: parse, call, print. Heavy imports happen inside commands
so that `adaptlab --help` stays instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from adaptlab.errors import UserError
from adaptlab.pipeline.cli import app as pipeline_app
from adaptlab.prompting.cli import app as prompt_app
from adaptlab.quiet import quiet_libraries
from adaptlab.retrieval.cli import rag_app
from adaptlab.study.cli import app as study_app

try:  # recent typer releases carry their own copy of click, whose exceptions are not click's
    from typer._click import exceptions as click_errors
except ImportError:
    from click import exceptions as click_errors

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Adapt language models to a domain and measure which adaptation wins.")
corpus_app = typer.Typer(no_args_is_help=True, help="Read, clean, dedup and split text; make the synthetic domain.")
tokenizer_app = typer.Typer(no_args_is_help=True, help="Train tokenizers.")


@app.callback()
def root(verbose: Annotated[bool, typer.Option("--verbose", help="Also show the libraries' own messages (loading "
                                                                    "bars, deprecation notices, kernel look-ups).")]
         = False) -> None:
    """Adapt language models to a domain and measure which adaptation wins."""
    if not verbose:
        quiet_libraries()


app.add_typer(corpus_app, name="corpus")
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(prompt_app, name="prompt")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(rag_app, name="rag")
app.add_typer(study_app, name="study")
out = Console(soft_wrap=True)
BOTTLENECK_KINDS = ("houlsby", "pfeiffer", "parallel", "scaled_parallel")


@corpus_app.command("prepare")
def corpus_prepare(
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders (.txt, .md, .jsonl), read recursively.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, validation.jsonl, summary.json.")],
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    min_chars: Annotated[int, typer.Option(help="Drop documents shorter than this after cleaning.")] = 200,
    validation_fraction: Annotated[float, typer.Option(help="Share of documents held out.")] = 0.05,
    near_dup_threshold: Annotated[float, typer.Option(help="MinHash Jaccard similarity that counts as duplicate.")] = 0.8,
    seed: int = 0,
) -> None:
    """Normalize, filter, deduplicate (exact and MinHash) and split a corpus by document."""
    from adaptlab.corpus.prepare import prepare_corpus

    summary = prepare_corpus(inputs, out_dir, text_field=text_field, min_chars=min_chars,
                             validation_fraction=validation_fraction, near_dup_threshold=near_dup_threshold, seed=seed)
    for line in summary.lines():
        out.print(line, highlight=False)


@corpus_app.command("synth")
def corpus_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for docs/, QA and instruction files.")],
    seed: int = 0,
    compounds: Annotated[int, typer.Option(help="How many invented compounds.")] = 80,
) -> None:
    """Generate the synthetic pharmacology domain: documents, QA pairs, strict-format instructions."""
    from adaptlab.corpus.synth import synthesize

    summary = synthesize(out_dir, seed=seed, n_compounds=compounds)
    for key, value in summary.to_dict().items():
        out.print(f"{key}: {value}", highlight=False)


@corpus_app.command("general")
def corpus_general(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the prepared corpus.")],
    seed: int = 0,
) -> None:
    """Prepare the built-in general English corpus (Python's own documentation text)."""
    from adaptlab.corpus.builtin import write_general_corpus

    for line in write_general_corpus(out_dir, seed=seed).lines():
        out.print(line, highlight=False)


@tokenizer_app.command("train")
def tokenizer_train(
    corpus: Annotated[Path, typer.Argument(help="A prepared corpus folder (its train split is used).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for tokenizer.json and its config.")],
    kind: Annotated[str, typer.Option(help="bpe (byte-level), unigram (SentencePiece-style) or char.")] = "bpe",
    vocab_size: int = 4096,
    min_frequency: int = 2,
) -> None:
    """Train a tokenizer; AutoTokenizer loads the folder it writes."""
    from adaptlab.tokenization.train import iter_corpus_texts, train_tokenizer

    tok = train_tokenizer(iter_corpus_texts(corpus), kind, vocab_size, out_dir, min_frequency=min_frequency)
    out.print(f"{kind} tokenizer with {len(tok)} tokens written to {out_dir}", highlight=False)


@tokenizer_app.command("extend")
def tokenizer_extend(
    run: Annotated[Path, typer.Argument(help="A run folder or Hugging Face model folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    corpus: Annotated[Optional[Path], typer.Option(help="Prepared domain corpus: mine train, measure validation.")] = None,
    terms: Annotated[Optional[Path], typer.Option(help="Text file, one term per line (instead of mining).")] = None,
    max_terms: int = 500,
    min_count: int = 3,
) -> None:
    """Add domain tokens to a model's tokenizer and grow its embeddings (new rows: mean of the pieces)."""
    from adaptlab.tokenization.domain import extend_model_and_tokenizer

    report = extend_model_and_tokenizer(run, out_dir, corpus_dir=corpus, terms_file=terms, max_terms=max_terms,
                                        min_count=min_count)
    for line in report.lines():
        out.print(line, highlight=False)


@app.command("tokenize")
def tokenize(
    corpus: Annotated[Path, typer.Argument(help="A prepared corpus folder.")],
    tokenizer: Annotated[Path, typer.Option(help="A tokenizer folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the token shards and meta.json.")],
) -> None:
    """Encode a prepared corpus into memory-mapped token shards."""
    from adaptlab.tokenization.shards import encode_corpus
    from adaptlab.tokenization.train import load_tokenizer

    meta = encode_corpus(corpus, load_tokenizer(tokenizer), out_dir)
    for split, info in meta["splits"].items():
        out.print(f"{split}: {info['documents']} documents, {info['tokens']:,} tokens, {info['bytes']:,} bytes "
                  f"({info['tokens'] / max(1, info['bytes']):.3f} tokens/byte)", highlight=False)


def train(
    ctx: typer.Context,
    data: Annotated[Optional[Path], typer.Option(help="Token shards folder (from `adaptlab tokenize`).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run folder to write.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML settings; flags override it.")] = None,
    base: Annotated[Optional[Path], typer.Option(help="Run or checkpoint folder to start from.")] = None,
    method: Annotated[Optional[str], typer.Option(
        help="full, lora, dora, qlora, ia3, prefix, prompt (peft) or houlsby, pfeiffer, parallel, scaled_parallel "
             "(bottleneck adapters).")] = None,
    adapter_name: Annotated[Optional[str], typer.Option(help="Name of a bottleneck adapter.")] = None,
    r: Annotated[Optional[int], typer.Option("--r", help="LoRA/DoRA rank.")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="LoRA/DoRA alpha.")] = None,
    target_modules: Annotated[Optional[str], typer.Option(help="Comma-separated module names to adapt.")] = None,
    virtual_tokens: Annotated[Optional[int], typer.Option(help="Prefix/prompt tuning length.")] = None,
    sft: Annotated[Optional[Path], typer.Option(help="Instruction JSONL (prompt/response or messages): SFT. On an "
                                                     "encoder base: an extractive reader, which learns to point at "
                                                     "each response in its prompt.")] = None,
    family: Annotated[Optional[str], typer.Option(help="decoder, encoder or encoder-decoder.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Preset: 1m, 10m, 30m or 100m.")] = None,
    steps: Optional[int] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Sequences per micro-batch per process.")] = None,
    grad_accum: Optional[int] = None,
    seq_len: Optional[int] = None,
    lr: Optional[float] = None,
    warmup_steps: Optional[int] = None,
    eval_every: Optional[int] = None,
    checkpoint_every: Optional[int] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many evaluations without improvement.")] = None,
    stop_on_overtrain: Annotated[Optional[bool], typer.Option("--stop-on-overtrain")] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto (bf16 only where native), fp32 or bf16.")] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile", help="torch.compile the model.")] = None,
    fsdp: Annotated[Optional[bool], typer.Option("--fsdp", help="Shard with FSDP2 under torchrun (default DDP).")] = None,
    seed: Optional[int] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
) -> None:
    from adaptlab.config import check_output, merge, read_yaml, validate
    from adaptlab.train.distributed import world_size
    from adaptlab.train.loop import pretrain as run_training
    from adaptlab.train.settings import PretrainConfig

    settings = read_yaml(config) if config else {}
    if resume:
        run_dir = out_dir or (Path(str(settings["out"])) if settings.get("out") else None)
        if run_dir is None:
            raise UserError("--resume continues the run in --out: pass --out RUN_FOLDER")
        if not (run_dir / "pretrain.yaml").is_file():
            raise UserError(f"{run_dir}: no run to resume (no pretrain.yaml); give an earlier run's folder as --out, "
                            "or drop --resume to start one")
        settings = merge(read_yaml(run_dir / "pretrain.yaml"), settings)
    if method is not None and method not in _methods():
        raise UserError(f"--method {method!r}: unknown; accepted: {', '.join(_methods())}")
    method = method or _configured_method(settings)
    _refuse_ignored_options(method, {"--r": r, "--alpha": alpha, "--target-modules": target_modules,
                                     "--virtual-tokens": virtual_tokens, "--adapter-name": adapter_name})
    adapter = bottleneck = None
    if method in BOTTLENECK_KINDS:
        bottleneck = {"kind": method, "r": r, "name": adapter_name}
    elif method != "full":
        targets = [t.strip() for t in target_modules.split(",")] if target_modules else None
        adapter = {"method": method, "r": r, "alpha": alpha, "target_modules": targets,
                   "num_virtual_tokens": virtual_tokens}
    overrides = {
        "data": str(data) if data else None, "out": str(out_dir) if out_dir else None,
        "base": str(base) if base else None, "adapter": adapter, "bottleneck": bottleneck,
        "sft": {"train_file": str(sft)} if sft else None,
        "model": {"family": family, "size": size},
        "train": {"steps": steps, "batch_size": batch_size, "grad_accum": grad_accum, "seq_len": seq_len, "lr": lr,
                  "warmup_steps": warmup_steps, "eval_every": eval_every, "checkpoint_every": checkpoint_every,
                  "patience": patience, "stop_on_overtrain": stop_on_overtrain, "precision": precision,
                  "compile": compile, "fsdp": fsdp, "seed": seed},
    }
    merged = merge(settings, overrides)
    if ctx.info_name == "finetune" and not merged.get("base"):
        raise UserError("finetune starts from a base: pass --base RUN_OR_CHECKPOINT (or use `adaptlab pretrain`)")
    cfg = validate(PretrainConfig, merged, source=str(config) if config else ctx.info_name)
    check_output(cfg.out, folder=True, what="the run")
    if cfg.base is not None:
        _check_base(cfg.base, family)
    if cfg.train.fsdp and world_size() == 1:
        raise UserError("--fsdp (train.fsdp) shards the model across torchrun's processes, and this is one process "
                        "(WORLD_SIZE unset or 1): launch under `torchrun --nproc_per_node=N`, or drop --fsdp")
    result = run_training(cfg, resume=resume)
    if result.metrics:
        figures = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        out.print(f"step {result.steps} ({result.stopped}): {figures}", highlight=False)
    share = result.trainable_parameters / result.parameters
    out.print(f"{result.parameters:,} parameters ({result.trainable_parameters:,} trained, {share:.2%}), "
              f"{result.tokens_per_second:,.0f} tokens/s, {result.wall_seconds:.0f} s; run folder {result.run_dir}",
              highlight=False)
    if result.precision is not None:
        out.print(f"precision: {result.precision.chosen} ({result.precision.reason})", highlight=False)


def _methods() -> tuple[str, ...]:
    """Every --method: full, peft's methods and the bottleneck adapters."""
    from typing import get_args

    from adaptlab.adapt.peft_methods import PeftMethod

    return ("full", *get_args(PeftMethod), *BOTTLENECK_KINDS)


def _configured_method(settings: dict) -> str:
    """The method a settings file (or the resumed run's pretrain.yaml) names; full when it names none."""
    adapter, bottleneck = settings.get("adapter"), settings.get("bottleneck")
    if isinstance(adapter, dict) and adapter.get("method"):
        return adapter["method"]
    if isinstance(bottleneck, dict) and bottleneck.get("kind"):
        return bottleneck["kind"]
    return "full"


def _refuse_ignored_options(method: str, given: dict[str, object]) -> None:
    """An adapter option the method does not use would be silently dropped: refuse it, saying where it applies."""
    from adaptlab.adapt.peft_methods import LORA_METHODS

    applies = {"--r": (*LORA_METHODS, *BOTTLENECK_KINDS), "--alpha": LORA_METHODS,
               "--target-modules": (*LORA_METHODS, "ia3"), "--virtual-tokens": ("prefix", "prompt"),
               "--adapter-name": BOTTLENECK_KINDS}
    ignored = [option for option, value in given.items() if value is not None and method not in applies[option]]
    if ignored:
        where = "; ".join(f"{option} applies to {', '.join(applies[option])}" for option in ignored)
        raise UserError(f"{', '.join(ignored)}: not used by --method {method} ({where})")


def _check_base(base: Path, family: Optional[str]) -> None:
    """A base is a full model of the family asked for: an adapter run under a new run would save weights
    nothing can load, and --family on a base would be ignored (the run keeps the base's family)."""
    from adaptlab.runs import read_manifest

    manifest = read_manifest(base)
    if manifest is not None and manifest["kind"] != "hf":
        raise UserError(f"--base {base}: a {manifest['kind']} adapter run, not a full model; start from its base "
                        f"({manifest['base']}), or merge it first (`adaptlab merge {base} --out MERGED`, LoRA/DoRA) "
                        "and start from the merged run")
    if family is not None:
        from transformers import AutoConfig

        from adaptlab.runs import family_from_config, resolve_model_dir

        actual = family_from_config(AutoConfig.from_pretrained(resolve_model_dir(base), local_files_only=True))
        if family != actual:
            raise UserError(f"--family {family}: base {base} is a {actual}; a run from a base keeps its family "
                            "(drop --family)")


app.command("pretrain", help="Train a model from scratch (or from --base: continued pretraining). "
                             "Under `torchrun --nproc_per_node=N` it trains data-parallel.")(train)
app.command("finetune", help="Adapt a base model on a domain's token shards (or --sft instructions): --method "
                             "full (continued pretraining), lora, dora, qlora, ia3, prefix, prompt, houlsby, pfeiffer, "
                             "parallel or scaled_parallel.")(train)


@app.command("merge")
def merge_adapter(
    run: Annotated[Path, typer.Argument(help="A run folder holding a LoRA/DoRA adapter.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder for the merged full model.")],
) -> None:
    """Fold a LoRA adapter into its base weights: a plain model folder any tool loads."""
    from adaptlab.adapt.merge import merge_lora

    merge_lora(run, out_dir)
    out.print(f"merged model written to {out_dir}", highlight=False)


@app.command("generate")
def generate(
    path: Annotated[Path, typer.Argument(help="A run folder or a local Hugging Face checkpoint folder.")],
    prompt: Annotated[list[str], typer.Option(help="Prompt text; repeat for several.")] = [""],
    max_new_tokens: int = 64,
    temperature: Annotated[float, typer.Option(help="0 for greedy.")] = 0.8,
    top_k: Optional[int] = None,
    top_p: Optional[float] = None,
    seed: Optional[int] = None,
) -> None:
    """Generate continuations (KV cache on)."""
    from adaptlab.config import validate
    from adaptlab.engine.generate import generate as run_generate
    from adaptlab.engine.requests import GenerationSettings
    from adaptlab.runs import load_model

    settings = validate(GenerationSettings, {"max_new_tokens": max_new_tokens, "temperature": temperature,
                                             "top_k": top_k, "top_p": top_p, "seed": seed}, source="generate")
    loaded = load_model(path)
    for text, result in zip(prompt, run_generate(loaded.model, loaded.tokenizer, prompt, settings)):
        out.print(f"[bold]{escape(text)}[/]{escape(result.text)}" if text else escape(result.text), highlight=False)


@app.command("eval")
def evaluate(
    path: Annotated[Path, typer.Argument(help="A run folder or a local Hugging Face checkpoint folder.")],
    text: Annotated[Optional[Path], typer.Option(help="A text file to score.")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="A prepared corpus folder to score.")] = None,
    split: str = "validation",
    instructions: Annotated[Optional[Path], typer.Option(help="Strict-format instructions JSONL: format compliance.")] = None,
    precision: Annotated[str, typer.Option(help="Scoring precision: auto (bf16 where the CPU or GPU computes it and "
                                                "it measures faster), fp32 or bf16.")] = "auto",
) -> None:
    """Held-out loss, perplexity and bits per byte (or format compliance); written to the run's eval.json."""
    from adaptlab.corpus.documents import read_documents, split_path
    from adaptlab.evaluation.perplexity import evaluate_texts
    from adaptlab.runs import MANIFEST, load_model, write_eval

    if instructions is not None:
        from adaptlab.evaluation.format_compliance import format_compliance, read_instructions

        result = format_compliance(load_model(path), read_instructions(instructions))
        out.print(f"format compliance {result['format_compliance']:.3f}, exact match {result['exact_match']:.3f} "
                  f"on {result['instructions']} instructions", highlight=False)
        if (path / MANIFEST).is_file():
            write_eval(path, str(instructions), result)
        return
    if (text is None) == (corpus is None):
        raise UserError("give exactly one of --text FILE, --corpus DIR or --instructions FILE")
    if text is not None:
        if not text.is_file():
            raise UserError(f"{text}: no such text file")
        try:
            texts, source = [text.read_text(encoding="utf-8")], str(text)
        except UnicodeDecodeError:
            raise UserError(f"{text}: not UTF-8 text") from None
    else:
        texts, source = [d.text for d in read_documents(split_path(corpus, split))], f"{corpus}:{split}"
    if not any(t.strip() for t in texts):
        raise UserError(f"{source}: no text to score")
    from adaptlab.train.precision import REQUESTS

    if precision not in REQUESTS:
        raise UserError(f"--precision {precision!r}: accepted {', '.join(REQUESTS)}")
    metrics = evaluate_texts(load_model(path), texts, precision=precision)
    for key, value in metrics.items():
        out.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}", highlight=False)
    if (path / MANIFEST).is_file():
        write_eval(path, source, metrics)


@app.command("serve")
def serve(
    runs: Annotated[Optional[list[str]], typer.Argument(
        help="Models to serve: RUN or NAME=RUN (a run or model folder; clients ask for NAME, by default the "
             "folder's name). An adapter run is its own model name.", show_default=False)] = None,
    rag: Annotated[Optional[list[str]], typer.Option(
        help="NAME=INDEX:READER: a RAG system over an index folder, read by a served model's NAME or a run "
             "folder. Repeatable.", show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface (then set a key).")]
    = "127.0.0.1",
    port: int = 8000,
    api_key: Annotated[Optional[str], typer.Option(
        envvar="ADAPTLAB_API_KEY", show_envvar=True,
        help="Require 'Authorization: Bearer KEY' on every request but /health. Prefer the environment variable or "
             "--api-key-file: a command line is visible to every user in `ps`.", show_default=False)] = None,
    api_key_file: Annotated[Optional[Path], typer.Option(help="File whose first line is the API key.",
                                                         show_default=False)] = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        help="Host header answered (repeatable); others get 400, so no web page can drive the server through a "
             "name of its own. Default: localhost, 127.0.0.1, ::1 and --host; any when --host is 0.0.0.0 or ::.",
        show_default=False)] = None,
    max_concurrency: Annotated[int, typer.Option(help="Generations running at once.")] = 4,
    max_queue: Annotated[int, typer.Option(help="Requests waiting for a slot; past it, 429.")] = 64,
    timeout: Annotated[float, typer.Option(help="Seconds per request, queue included; then 504.")] = 60.0,
    max_tokens: Annotated[int, typer.Option(help="Most tokens a request may generate.")] = 512,
    max_prompt_tokens: Annotated[Optional[int], typer.Option(help="Longest prompt (default: the model's "
                                                                  "context).")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body; past it, 413.")] = 1_000_000,
    max_stop_sequences: Annotated[int, typer.Option(help="Stop strings a request may give.")] = 4,
    max_stop_chars: Annotated[int, typer.Option(help="Longest stop string, in characters.")] = 256,
    record: Annotated[bool, typer.Option(help="Record served completions (prompt and answer) so that clients can "
                                              "rate them at /v1/feedback.")] = True,
    feedback_db: Annotated[Optional[Path], typer.Option(
        help="SQLite file of served completions and ratings [default: $XDG_DATA_HOME/adaptlab/feedback.sqlite3, "
             "else ~/.local/share/adaptlab/feedback.sqlite3]", show_default=False)] = None,
    record_days: Annotated[float, typer.Option(help="Days a served completion and its rating are kept.")] = 30.0,
    record_max_rows: Annotated[int, typer.Option(help="Served completions kept; the oldest go first.")] = 100_000,
    max_feedback_chars: Annotated[int, typer.Option(help="Longest preferred answer a rating may carry.")] = 16_000,
    shutdown_grace: Annotated[float, typer.Option(
        help="On SIGTERM or Ctrl-C, seconds running generations get to finish; the rest end with an error.")] = 30.0,
    response_cache: Annotated[Optional[Path], typer.Option(
        help="SQLite file of answers given: a repeated greedy request is answered from it.")] = None,
    cache_ttl: Annotated[float, typer.Option(help="Seconds a cached answer is kept.")] = 24 * 3600,
    cache_max_entries: Annotated[int, typer.Option(help="Cached answers kept at most; the oldest go first.")]
    = 10_000,
    cache_sampled: Annotated[bool, typer.Option(help="Cache sampled answers too (a seeded one then "
                                                     "repeats).")] = False,
    prefix_cache_mb: Annotated[int, typer.Option(
        help="MB of KV per model for prompt prefixes requests share (system prompt, few-shot examples, RAG "
             "passages): reused, not recomputed. 0: off.")] = 0,
    draft: Annotated[Optional[Path], typer.Option(
        help="A small run with the same tokenizer: speculative decoding for the base models (greedy answers "
             "unchanged). With --prefix-cache-mb, base models are drafted and adapter runs and RAG readers "
             "prefix-cached.", show_default=False)] = None,
) -> None:
    """An OpenAI-compatible HTTP server (/v1/models, /v1/completions, /v1/chat/completions, /v1/feedback)."""
    from adaptlab.config import validate
    from adaptlab.serve.decoding import decoding_summary
    from adaptlab.serve.registry import load_models
    from adaptlab.serve.server import bind, read_api_key, run_server, start_up_lines
    from adaptlab.serve.settings import ServeSettings

    if api_key_file is not None:
        if api_key is not None:
            raise UserError("give the API key once: --api-key (or ADAPTLAB_API_KEY) or --api-key-file, not both")
        api_key = read_api_key(api_key_file)
    given = {"host": host, "port": port, "api_key": api_key, "allowed_hosts": allowed_host or None,
             "max_concurrency": max_concurrency, "max_queue": max_queue, "timeout": timeout, "max_tokens": max_tokens,
             "max_prompt_tokens": max_prompt_tokens, "max_body_bytes": max_body_bytes,
             "max_stop_sequences": max_stop_sequences, "max_stop_chars": max_stop_chars, "record": record,
             "record_days": record_days, "record_max_rows": record_max_rows,
             "max_feedback_chars": max_feedback_chars, "shutdown_grace": shutdown_grace}
    settings = validate(ServeSettings, {**given, **({"feedback_db": feedback_db} if feedback_db else {})},
                        source="serve")
    bind(host, port).close()  # a port in use fails now, not after the models load (run_server binds it again)
    cache = None
    if response_cache is not None:
        from adaptlab.engine.response_cache import ResponseCache

        cache = ResponseCache(response_cache, ttl_seconds=cache_ttl, max_entries=cache_max_entries,
                              cache_sampled=cache_sampled)
    models = load_models(runs or [], rag or [], prefix_cache_mb=prefix_cache_mb, draft=draft)
    for line in decoding_summary(models, prefix_cache_mb, draft):
        out.print(line, highlight=False)
    if cache is not None:
        from adaptlab.serve.cached import with_response_cache

        models = with_response_cache(models, cache)
    lines, warnings = start_up_lines(settings)
    for line in lines:
        out.print(line, highlight=False)
    for warning in warnings:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    out.print(f"serving {', '.join(models)} at http://{host}:{port}/v1", highlight=False)
    run_server(models, settings, [cache.close] if cache is not None else [])


@app.command("quickstart")
def quickstart(
    out_dir: Annotated[Path, typer.Option("--out", help="Working folder (replaced on each run).")] = Path("runs/quickstart"),
    steps: Annotated[int, typer.Option(help="Training steps (1000 take about 5 minutes on 2 cores).")] = 1000,
) -> None:
    """The main job on its embedded default: corpus, tokenizer, model, evaluation, samples."""
    from adaptlab.config import check_output
    from adaptlab.quickstart import run_quickstart

    if steps < 1:
        raise UserError(f"--steps {steps}: must be at least 1")
    check_output(out_dir, folder=True, what="the quickstart's work")
    run_quickstart(out_dir, steps=steps)


def _usage_message(exc: click_errors.UsageError) -> str:
    """click's message for a usage error, with the value given where typer's pydantic check kept it
    (its range messages say what is accepted but not what was given), and where to read the usage."""
    from pydantic import ValidationError

    message = exc.format_message()
    if isinstance(exc.__cause__, ValidationError) and "input" in exc.__cause__.errors()[0]:
        message += f" (got {exc.__cause__.errors()[0]['input']})"
    return f"{message} (see `{exc.ctx.command_path} --help`)" if exc.ctx else message


def main() -> None:
    """Entry point: a user's mistake, ours or click's (a bad option, a value out of range), is one line
    on stderr and exit code 2, never a traceback or a boxed panel."""
    stderr = Console(stderr=True, soft_wrap=True)
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:  # the help is already printed
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        stderr.print(f"[red]error:[/] {escape(_usage_message(exc))}", highlight=False)
        sys.exit(2)
    except typer.Abort:
        stderr.print("Aborted!", highlight=False)
        sys.exit(1)
    except UserError as exc:
        stderr.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
