"""`adaptlab pretrain` and `adaptlab finetune`: a training run from flags and a settings file, its
method (`--method` and the method flags) resolved through the registry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from adaptlab.errors import UserError

out = Console(soft_wrap=True)


def _training_options(
    data: Annotated[Optional[Path], typer.Option(help="Token shards folder (from `adaptlab tokenize`).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run folder to write.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML settings; flags override it.")] = None,
    base: Annotated[Optional[Path], typer.Option(help="Run or checkpoint folder to start from.")] = None,
    method: Annotated[Optional[str], typer.Option(
        help="How the base's weights are adapted: full (every weight) or an adapter method; "
             "`adaptlab methods` lists them.")] = None,
    adapter_name: Annotated[Optional[str], typer.Option(help="Name of a bottleneck adapter.")] = None,
    r: Annotated[Optional[int], typer.Option("--r", help="Rank (LoRA, DoRA, QLoRA, LoHa) or bottleneck width.")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="LoRA/DoRA/LoHa alpha.")] = None,
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
    """The options `pretrain` and `finetune` share (this function only carries their signature)."""


METHOD_OPTIONS = ("r", "alpha", "target_modules", "virtual_tokens", "adapter_name")  # flags that set method fields


def _training_command(needs_base: bool, summary: str) -> Callable[..., None]:
    """`pretrain` (from scratch, or from --base) or `finetune` (from --base only), over the same options."""

    def command(**options: Any) -> None:
        _train(needs_base, options)

    functools.update_wrapper(command, _training_options)
    command.__doc__ = summary
    return command


pretrain = _training_command(False, "Train a model from scratch (or from --base: continued pretraining). Under "
                                    "`torchrun --nproc_per_node=N` it trains data-parallel.")
finetune = _training_command(True, "Adapt a base model on a domain's token shards (or --sft instructions) by a "
                                   "--method: full (continued pretraining) or an adapter; `adaptlab methods` lists "
                                   "them.")


def _train(needs_base: bool, o: dict[str, Any]) -> None:
    from adaptlab.config import merge, read_yaml, validate
    from adaptlab.fileio import check_output
    from adaptlab.train.distributed import world_size
    from adaptlab.train.loop import pretrain as run_training
    from adaptlab.train.settings import PretrainConfig, TrainConfig

    config, out_dir = o["config"], o["out_dir"]
    settings = read_yaml(config) if config else {}
    if o["resume"]:
        run_dir = out_dir or (Path(str(settings["out"])) if settings.get("out") else None)
        if run_dir is None:
            raise UserError("--resume continues the run in --out: pass --out RUN_FOLDER")
        if not (run_dir / "pretrain.yaml").is_file():
            raise UserError(f"{run_dir}: no run to resume (no pretrain.yaml); give an earlier run's folder as --out, "
                            "or drop --resume to start one")
        settings = merge(read_yaml(run_dir / "pretrain.yaml"), settings)
    given = {key: o[key] for key in METHOD_OPTIONS}
    if o["target_modules"]:
        given["target_modules"] = [t.strip() for t in o["target_modules"].split(",")]
    if o["method"] is not None or any(v is not None for v in given.values()):
        settings["method"] = method_settings(o["method"], settings.get("method"), given).model_dump()
    overrides = {
        "data": str(o["data"]) if o["data"] else None, "out": str(out_dir) if out_dir else None,
        "base": str(o["base"]) if o["base"] else None, "sft": {"train_file": str(o["sft"])} if o["sft"] else None,
        "model": {"family": o["family"], "size": o["size"]},
        "train": {key: o[key] for key in TrainConfig.model_fields if key in o},  # every flag named after a field
    }
    merged = merge(settings, overrides)
    if needs_base and not merged.get("base"):
        raise UserError("finetune starts from a base: pass --base RUN_OR_CHECKPOINT (or use `adaptlab pretrain`)")
    cfg = validate(PretrainConfig, merged, source=str(config) if config else ("finetune" if needs_base else "pretrain"))
    check_output(cfg.out, folder=True, what="the run")
    if cfg.base is not None:
        _check_base(cfg.base, o["family"])
    if cfg.train.fsdp and world_size() == 1:
        raise UserError("--fsdp (train.fsdp) shards the model across torchrun's processes, and this is one process "
                        "(WORLD_SIZE unset or 1): launch under `torchrun --nproc_per_node=N`, or drop --fsdp")
    result = run_training(cfg, resume=o["resume"])
    if result.metrics:
        figures = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        out.print(f"step {result.steps} ({result.stopped}): {figures}", highlight=False)
    share = result.trainable_parameters / result.parameters
    out.print(f"{result.parameters:,} parameters ({result.trainable_parameters:,} trained, {share:.2%}), "
              f"{result.tokens_per_second:,.0f} tokens/s, {result.wall_seconds:.0f} s; run folder {result.run_dir}",
              highlight=False)
    if result.precision is not None:
        out.print(f"precision: {result.precision.chosen} ({result.precision.reason})", highlight=False)


def method_settings(name: Optional[str], configured: Any, given: dict[str, Any]) -> Any:
    """The run's method settings: --method (else the settings file's method, else full) with the
    method flags over the file's knobs for that same method; a flag the method does not take is refused."""
    from adaptlab import registry

    configured = dict(registry.tagged(configured) or {})
    name = name or configured.get("name") or "full"
    knobs = {k: v for k, v in configured.items() if k != "name"} if configured.get("name") == name else {}
    return registry.settings_of(name, given, knobs)


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

        from adaptlab.models.family import family_from_config
        from adaptlab.runs import resolve_model_dir

        actual = family_from_config(AutoConfig.from_pretrained(resolve_model_dir(base), local_files_only=True))
        if family != actual:
            raise UserError(f"--family {family}: base {base} is a {actual}; a run from a base keeps its family "
                            "(drop --family)")
