"""The training loop: setup, loop, evaluate, checkpoint — plain PyTorch, one loop for
every objective and for one process or many under torchrun."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from adaptlab.errors import UserError
from adaptlab.models.presets import count_parameters
from adaptlab.runs import peak_rss_mb, write_cost, write_eval, write_run_manifest
from adaptlab.tokenization.chat import ensure_chat_template
from adaptlab.tokenization.shards import load_split, read_meta
from adaptlab.train.batches import TokenWindows, slice_batch, step_generator
from adaptlab.train.checkpoint import CHECKPOINT_DIR, load_checkpoint, save_checkpoint
from adaptlab.train.distributed import DistEnv, all_reduce_sum, init_distributed, shutdown, wrap_model
from adaptlab.train.initial import initial_model
from adaptlab.train.metrics import MetricsLog, loss_metrics, plot_loss_curves
from adaptlab.train.monitors import EarlyStopping, OvertrainingDetector
from adaptlab.train.objectives import Objective, SpanExtraction, objective_for
from adaptlab.train.precision import PrecisionChoice, attention_for, autocast, choose_precision, measure_bf16_speedup
from adaptlab.train.schedule import lr_at
from adaptlab.train.settings import PretrainConfig
from adaptlab.train.sft_data import PackedExamples, split_examples
from adaptlab.train.span_data import SpanExamples

console = Console(stderr=True)


@dataclass
class RunResult:
    run_dir: Path
    steps: int
    stopped: str
    metrics: dict[str, float]
    tokens_per_second: float  # training steps only, evaluation and checkpoints excluded
    wall_seconds: float
    parameters: int
    trainable_parameters: int
    history: list[dict[str, Any]] = field(default_factory=list)
    precision: PrecisionChoice | None = None  # what the run trained in, and why


def make_optimizer(model: torch.nn.Module, cfg, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms, biases)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    extra = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), **extra)


class _Interrupt:
    """Turns Ctrl-C into a request to checkpoint and stop after the current step."""

    def __init__(self, enabled: bool):
        self.requested = False
        self._enabled = enabled
        self._previous = None

    def __enter__(self) -> _Interrupt:
        if self._enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, *_: Any) -> None:
        self.requested = True

    def __exit__(self, *_: Any) -> None:
        if self._enabled:
            signal.signal(signal.SIGINT, self._previous)


class _TrainClock:
    """Seconds spent in training steps only, overall and since the last log."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self._window = 0.0
        self._mark = time.perf_counter()

    def restart(self) -> None:
        self._mark = time.perf_counter()

    def lap(self) -> None:
        now = time.perf_counter()
        self.train_seconds += now - self._mark
        self._window += now - self._mark
        self._mark = now

    def take_window(self) -> float:
        window, self._window = self._window, 0.0
        return window


@contextmanager
def _progress(enabled: bool, total: int, start: int) -> Iterator[Callable[..., None]]:
    if not enabled:
        yield lambda **_: None
        return
    columns = [TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("train", total=total, completed=start, info="")
        yield lambda **kw: bar.update(task, **kw)


class Trainer:
    """Holds the pieces of one run; `fit` runs it."""

    def __init__(self, cfg: PretrainConfig, env: DistEnv, resume: bool, progress: bool,
                 on_step: Callable[[int], None] | None):
        self.cfg, self.env, self.tc = cfg, env, cfg.train
        self.run_dir = Path(cfg.out)
        self.progress = progress and env.is_main
        self.on_step = on_step
        self.meta = read_meta(cfg.data) if cfg.data is not None else None
        self._check_run_dir(resume)
        start = initial_model(cfg, self.meta)
        self.model, self.tokenizer, self.family, self.base_dir = start.model, start.tokenizer, start.family, start.base_dir
        if start.context is not None and self.tc.seq_len > start.context:
            raise UserError(f"train.seq_len {self.tc.seq_len} exceeds the model's context of {start.context} tokens "
                            "(model.max_seq_len)")
        self.extractive = cfg.sft is not None and self.family == "encoder"
        self.objective: Objective | SpanExtraction = SpanExtraction() if self.extractive else objective_for(
            self.family, self.tokenizer, self.model, mlm_probability=self.tc.mlm_probability,
            noise_density=self.tc.noise_density, mean_span_length=self.tc.mean_span_length)
        self.train_batch, self.val_batch = self._data_sources()
        val = self.meta["splits"]["validation"] if self.meta else None
        self.val_tokens_per_byte = val["tokens"] / val["bytes"] if self.family == "decoder" and val and val["bytes"] \
            else None
        self.parameters = count_parameters(self.model)
        self.trainable_parameters = count_parameters(self.model, trainable_only=True)
        self.model.to(env.device)
        self.precision = self._choose_precision(resume)
        attention_for(self.model, env.device, self.precision.autocast_dtype)
        self.wrapped = wrap_model(self.model, env, self.tc.fsdp)
        self.optimizer = make_optimizer(self.wrapped, self.tc, env.device)
        self.forward_model = self._maybe_compile(self.wrapped)
        self.early = EarlyStopping(self.tc.patience, self.tc.min_delta)
        self.overtrain = OvertrainingDetector(self.tc.overtrain_window)
        self.history: list[dict[str, Any]] = []
        self.step = 0
        if resume:
            self._restore()
        if env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.precision.save(self.run_dir)
            (self.run_dir / "pretrain.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", resume_step=self.step if resume else None) \
            if env.is_main else None

    def _data_sources(self) -> tuple[Callable, Callable]:
        """Functions (rows, generator) -> batch for training and validation."""
        cfg = self.cfg
        if cfg.sft is not None:
            train, val = split_examples(cfg.sft, self.tc.seed)
            if self.extractive:
                held = cfg.sft.validation_file or cfg.sft.train_file
                return (SpanExamples(train, self.tokenizer, self.tc.seq_len, str(cfg.sft.train_file)).sample,
                        SpanExamples(val, self.tokenizer, self.tc.seq_len, str(held)).sample)
            if self.family != "decoder":
                raise UserError(f"supervised fine-tuning needs a decoder (or an encoder, which learns to point at "
                                f"its answer); base {cfg.base} is {self.family}")
            ensure_chat_template(self.tokenizer)
            sources = [PackedExamples(part, self.tokenizer, self.tc.seq_len, cfg.sft.pack) for part in (train, val)]
            return sources[0].sample, sources[1].sample
        window = self.objective.window_length(self.tc.seq_len)
        windows = [TokenWindows(load_split(cfg.data, split), window, f"{cfg.data} ({split})")
                   for split in ("train", "validation")]
        return tuple(lambda n, gen, w=w: self.objective.make_batch(w.sample(n, gen), gen) for w in windows)

    def _check_run_dir(self, resume: bool) -> None:
        has_checkpoint = (self.run_dir / CHECKPOINT_DIR).exists() or (self.run_dir / "model").exists()
        if has_checkpoint and not resume:
            raise UserError(f"{self.run_dir}: already holds a run; pass --resume to continue it or choose another --out")

    def _choose_precision(self, resume: bool) -> PrecisionChoice:
        """The run's precision (see train/precision.py); a resumed run keeps the one it started with."""
        saved = PrecisionChoice.load(self.run_dir) if resume else None
        if saved is not None and saved.requested == self.tc.precision:
            return saved
        if self.tc.precision == "auto" and self._quantized:
            return PrecisionChoice("auto", "fp32", "QLoRA: bitsandbytes computes NF4 layers in fp32 for training")
        return choose_precision(self.tc.precision, self.env.device, self._bf16_speedup)

    def _bf16_speedup(self) -> float:
        """bf16 autocast's speed-up on this model's own training step, before any wrapper (so no rank
        waits on another's collectives), agreed across ranks."""
        batch = self.train_batch(self.tc.batch_size, step_generator(self.tc.seed, 0, stream=2))
        batch = {k: v.to(self.env.device) for k, v in batch.items()}
        self.model.train()

        def step(dtype: torch.dtype | None) -> None:
            attention_for(self.model, self.env.device, dtype)
            with autocast(self.env.device, dtype):
                loss = self.objective.loss(self.model, batch)
            loss.backward()
            self.model.zero_grad(set_to_none=True)

        speedup = measure_bf16_speedup(step)
        attention_for(self.model, self.env.device, None)
        return self._mean_over_ranks(speedup)

    def _maybe_compile(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.tc.compile:
            return model
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(self.run_dir.resolve() / ".inductor-cache"))
        return torch.compile(model)

    # --- state -----------------------------------------------------------------------
    @property
    def _adapter_run(self) -> bool:
        return self.cfg.adapts.frozen_base

    @property
    def _quantized(self) -> bool:
        return self.cfg.adapts.base_quantization is not None

    def _full_state(self) -> tuple[dict, dict]:
        """Model and optimizer state, gathered whole; an adapter run keeps only what it trains
        (the frozen base is rebuilt from its folder), so checkpoints stay small."""
        model_state, optim_state = get_state_dict(self.wrapped, self.optimizer,
                                                  options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self._adapter_run:
            trained = {name for name, p in self.wrapped.named_parameters() if p.requires_grad}
            model_state = {k: v for k, v in model_state.items() if k in trained}
        return model_state, optim_state

    def _load_weights(self, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
        """Load a (possibly adapter-only) state; anything else missing or unexpected is a bug."""
        result = model.load_state_dict(state, strict=not self._adapter_run)
        trained = {name for name, p in model.named_parameters() if p.requires_grad}
        if result.unexpected_keys or trained & set(result.missing_keys):
            raise RuntimeError(f"checkpoint does not fit the model: {result}")

    def _trainer_state(self) -> dict[str, Any]:
        return {"step": self.step, "best_val_loss": self.early.best, "bad_evals": self.early.bad_evals,
                "overtrain_history": self.overtrain.history, "history": self.history}

    def _restore(self) -> None:
        model_state, optim_state, state = load_checkpoint(self.run_dir)
        set_state_dict(self.wrapped, self.optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                       options=StateDictOptions(full_state_dict=True, strict=not self._adapter_run))
        self.step = state["step"]
        self.early.best, self.early.bad_evals = state["best_val_loss"], state["bad_evals"]
        self.overtrain.history = [tuple(x) for x in state["overtrain_history"]]
        self.history = state["history"]
        if self.step >= self.tc.steps and self.env.is_main:
            console.print(f"checkpoint is at step {self.step}, the run's last; raise train.steps to train further")

    def checkpoint(self) -> None:
        model_state, optim_state = self._full_state()
        if self.env.is_main:
            save_checkpoint(self.run_dir, model_state, optim_state, self._trainer_state())

    # --- steps -----------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.env.device, self.precision.autocast_dtype)

    def _sync_context(self, sync: bool):
        if self.env.distributed and not self.tc.fsdp and not sync:
            return self.wrapped.no_sync()
        if self.env.distributed and self.tc.fsdp:
            self.wrapped.set_requires_gradient_sync(sync)
        return nullcontext()

    def train_step(self) -> torch.Tensor:
        tc, env = self.tc, self.env
        lr = lr_at(self.step, lr=tc.lr, min_lr=tc.min_lr, warmup_steps=tc.warmup_steps, total_steps=tc.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rows = tc.batch_size * tc.grad_accum * env.world_size
        gen = step_generator(tc.seed, self.step)
        batch = self.train_batch(rows, gen)
        torch.manual_seed(tc.seed * 1_000_003 + self.step * 1009 + env.rank)  # dropout
        self.forward_model.train()
        total = torch.zeros((), device=env.device)
        for micro in range(tc.grad_accum):
            sub = slice_batch(batch, env.rank * tc.grad_accum + micro, tc.batch_size)
            sub = {k: v.to(env.device, non_blocking=True) for k, v in sub.items()}
            with self._sync_context(micro == tc.grad_accum - 1), self._autocast():
                loss = self.objective.loss(self.forward_model, sub) / tc.grad_accum
            loss.backward()
            total += loss.detach()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.wrapped.parameters(), tc.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return total

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean validation loss on the same windows every time, split across processes."""
        tc, env = self.tc, self.env
        batches = math.ceil(tc.eval_batches / env.world_size) * env.world_size
        gen = step_generator(tc.seed, 0, stream=1)
        batch = self.val_batch(batches * tc.batch_size, gen)
        self.forward_model.eval()
        sums = torch.zeros(2)
        for index in range(env.rank, batches, env.world_size):
            sub = {k: v.to(env.device) for k, v in slice_batch(batch, index, tc.batch_size).items()}
            with self._autocast():
                sums[0] += self.objective.loss(self.forward_model, sub).float().item()
            sums[1] += 1
        sums = all_reduce_sum(sums, env)
        return (sums[0] / sums[1]).item()

    def _mean_over_ranks(self, value: float) -> float:
        return (all_reduce_sum(torch.tensor([value]), self.env) / self.env.world_size).item()

    def fit(self) -> RunResult:
        tc, env = self.tc, self.env
        tokens_per_step = tc.batch_size * tc.grad_accum * env.world_size * tc.seq_len
        stopped = "completed"
        started = time.perf_counter()
        clock = _TrainClock()
        window_steps, window_loss = 0, torch.zeros((), device=env.device)
        eval_train_loss, eval_steps = 0.0, 0
        steps_at_start = self.steps_at_start = self.step
        with _Interrupt(enabled=not env.distributed) as interrupt, \
                _progress(self.progress, tc.steps, self.step) as show:
            clock.restart()
            while self.step < tc.steps:
                window_loss += self.train_step()
                window_steps += 1
                clock.lap()
                if self.step % tc.log_every == 0 or self.step == tc.steps:
                    loss = self._mean_over_ranks((window_loss / window_steps).item())
                    tokens_per_second = tokens_per_step * window_steps / max(clock.take_window(), 1e-9)
                    eval_train_loss += loss * window_steps
                    eval_steps += window_steps
                    self._record({"step": self.step, "train_loss": loss, "lr": self.optimizer.param_groups[0]["lr"],
                                  "tokens_per_second": tokens_per_second})
                    show(completed=self.step, info=f"loss {loss:.3f}  {tokens_per_second:,.0f} tok/s")
                    window_steps, window_loss = 0, torch.zeros((), device=env.device)
                if self.step % tc.eval_every == 0 or self.step == tc.steps:
                    reason = self._after_eval(eval_train_loss / max(1, eval_steps))
                    eval_train_loss, eval_steps = 0.0, 0
                    stopped = reason or stopped
                if self.step % tc.checkpoint_every == 0 and stopped == "completed":
                    self.checkpoint()
                if self.on_step:
                    self.on_step(self.step)
                if interrupt.requested:
                    stopped = "interrupted"
                if stopped != "completed":
                    break
                clock.restart()  # evaluation and checkpoints do not count as training time
        self.checkpoint()
        final = {k: v for k, v in (self.history[-1] if self.history else {}).items() if k != "step"}
        if stopped != "interrupted":
            self.export(clock.train_seconds)
        elif self.env.is_main:
            console.print(f"interrupted at step {self.step}; checkpoint saved — continue with --resume")
        trained = tokens_per_step * (self.step - steps_at_start)
        return RunResult(self.run_dir, self.step, stopped, final, trained / max(clock.train_seconds, 1e-9),
                         time.perf_counter() - started, self.parameters, self.trainable_parameters, self.history,
                         self.precision)

    def _record(self, record: dict[str, Any]) -> None:
        if self.log:
            self.log.write(record)

    def _after_eval(self, train_loss: float) -> str | None:
        val_loss = self.evaluate()
        metrics = {f"val_{k}": v for k, v in loss_metrics(val_loss, self.val_tokens_per_byte,
                                                                  perplexity=not self.extractive).items()}
        entry = {"step": self.step, "train_loss": train_loss, **metrics}
        self.history.append(entry)
        self._record(entry)
        overtraining = self.overtrain.update(train_loss, val_loss)
        should_stop = self.early.update(val_loss)
        if overtraining:
            self._record({"step": self.step, "event": "overtraining"})
            if self.env.is_main:
                console.print(f"[yellow]warning:[/] overtraining at step {self.step}: validation loss rose for "
                              f"{self.tc.overtrain_window} evaluations while training loss fell")
            if self.tc.stop_on_overtrain:
                return "overtraining"
        if should_stop:
            if self.env.is_main:
                console.print(f"early stopping at step {self.step}: no improvement over {self.early.best:.4f} "
                              f"for {self.early.bad_evals} evaluations")
            return "early_stopping"
        return None

    def export(self, train_seconds: float) -> None:
        """The final artifact (a save_pretrained model or a PEFT adapter folder, with the
        tokenizer), the run manifest, eval.json, cost.json and the loss curve."""
        model_state, _ = self._full_state()
        if not self.env.is_main:
            return
        out = self.run_dir / "model"
        plain = initial_model(self.cfg, self.meta).model  # same structure, unsharded and uncompiled
        self._load_weights(plain, model_state)
        if getattr(plain, "generation_config", None) is not None:
            plain.generation_config.pad_token_id = self.tokenizer.pad_token_id
        method = self.cfg.adapts
        method.save(plain, self.cfg.method, out)
        self.tokenizer.save_pretrained(out)
        write_run_manifest(self.run_dir, family=self.family, model="model", kind=method.run_kind,
                           base=self.base_dir if method.frozen_base else None,
                           base_quantization=method.base_quantization,
                           chat=self.cfg.sft is not None and not self.extractive,
                           method=method.name if self.cfg.base is not None else None)
        if self.history:
            write_eval(self.run_dir, "validation", {k: v for k, v in self.history[-1].items() if k != "step"})
        write_cost(self.run_dir, self._cost(train_seconds, out))
        if (self.run_dir / "metrics.jsonl").exists():
            title = f"{self.run_dir} ({self.family}, {self.parameters:,} parameters)"
            plot_loss_curves(self.run_dir / "metrics.jsonl", self.run_dir / "loss_curve.png", title=title)

    def _cost(self, train_seconds: float, artifact: Path) -> dict[str, Any]:
        steps = max(1, self.step - self.steps_at_start)
        cost = {"parameters": self.parameters, "trainable_parameters": self.trainable_parameters,
                "trainable_share": self.trainable_parameters / self.parameters,
                "peak_rss_mb": peak_rss_mb(), "step_seconds": train_seconds / steps,
                "artifact_bytes": sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file()),
                "precision": self.precision.chosen}
        if self._quantized:
            from adaptlab.adapt.peft_methods.qlora import generic_path_layers

            cost["nf4_generic_path_layers"] = generic_path_layers(self.model)
        return cost


def pretrain(cfg: PretrainConfig, *, resume: bool = False, progress: bool = True,
             on_step: Callable[[int], None] | None = None) -> RunResult:
    """Train a model from scratch on token shards; write the run folder; return its figures."""
    env = init_distributed()
    try:
        return Trainer(cfg, env, resume, progress, on_step).fit()
    finally:
        shutdown(env)
