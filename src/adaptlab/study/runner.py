"""Run a study: prepare the workspace, then build and measure each strategy in turn.

Each strategy's result is saved in its folder as soon as it is known, keyed by a hash of
its method, settings, base, domain, evaluation and seed: a rerun skips those already done
with the same key, and a strategy that fails is reported (its one-line error in the
result, the traceback in error.log) while the others go on. The report is rendered from
the saved results, so `adaptlab study report` can redo it alone.

With `seeds: N` every strategy runs N times (seeds seed, seed + 1, ...; the first in
strategies/NAME, the others in seeds/SEED/NAME) and its result holds each measure's mean and
spread (sample standard deviation) over the runs.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from adaptlab.fileio import write_file
from adaptlab.study.config import StudyConfig
from adaptlab.study.workspace import Workspace, digest, prepare_workspace

RESULT = "result.json"
RESULTS = "results.json"
CONFIG = "study.json"


def write_json(path: Path, value: Any) -> None:
    """Whole or not at all (fileio.write_file)."""
    write_file(path, json.dumps(value, indent=2, default=str) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def strategy_key(method: str, settings: BaseModel, ws: Workspace, config: StudyConfig,
                 earlier: dict[str, dict[str, Any]], seed: int) -> str:
    over = getattr(settings, "over", None)
    return digest([method, settings.model_dump(), ws.base_id, ws.domain_id, config.eval.model_dump(), seed,
                   earlier[over]["key"] if over in earlier else None])


def loss_curve(run: Path | None) -> list[dict[str, float]]:
    from adaptlab.train.metrics import read_metrics

    if run is None or not (run / "metrics.jsonl").is_file():
        return []
    return [{"step": r["step"], "train_loss": r["train_loss"]} for r in read_metrics(run / "metrics.jsonl")
            if "train_loss" in r and "val_loss" not in r]


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def strategy_folder(out: Path, name: str, seed: int, config: StudyConfig) -> Path:
    return out / "strategies" / name if seed == config.seed else out / "seeds" / str(seed) / name


def run_strategy(index: int, total: int, spec_name: str, method: str, settings: BaseModel, ws: Workspace,
                 config: StudyConfig, out: Path, earlier: dict[str, dict[str, Any]], console: Console,
                 seed: int) -> dict[str, Any]:
    from adaptlab.study.measures import PeakMemory, measure
    from adaptlab.study.strategies import Context, build

    folder = strategy_folder(out, spec_name, seed, config)
    key = strategy_key(method, settings, ws, config, earlier, seed)
    title = f"[{index}/{total}] {spec_name}" + (f", seed {seed}" if config.seeds > 1 else "")
    saved = read_json(folder / RESULT)
    if saved and saved.get("key") == key and saved.get("status") == "done":
        console.print(f"{title}: done in an earlier run (key {key}), kept", highlight=False)
        return saved
    console.rule(f"{title} ({method})")
    result: dict[str, Any] = {"name": spec_name, "method": method, "settings": settings.model_dump(mode="json"),
                              "key": key, "seed": seed}
    started = time.perf_counter()
    try:
        with PeakMemory() as peak:
            built = build(method, Context(ws, folder, seed, earlier), settings)
            measures = measure(built, ws, config.eval)
        measures["peak_memory_mb"] = peak.mb
        result |= {"status": "done", "error": None, "measures": measures, "loss_curve": loss_curve(built.run),
                   "run": str(built.run) if built.run else None, "notes": built.notes}
        (folder / "error.log").unlink(missing_ok=True)
    except Exception as exc:  # a failed strategy is reported and the study goes on
        result |= {"status": "failed", "error": one_line(exc)}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    result["seconds"] = time.perf_counter() - started
    write_json(folder / RESULT, result)
    if result["status"] == "done":
        m = result["measures"]
        bpb = "" if m["domain_bpb"] is None else \
            f", domain bpb {m['domain_bpb']:.3f}, general bpb {m['general_bpb']:.3f}"
        console.print(f"{spec_name}: knowledge EM {m['knowledge_em']:.3f}, format compliance "
                      f"{m['format_compliance']:.3f}, content accuracy {m['content_accuracy']:.3f}{bpb}, "
                      f"{m['prompt_tokens_per_request']:.0f} prompt tokens/request ({result['seconds']:.0f} s)",
                      highlight=False)
    else:
        console.print(f"[red]{spec_name} failed:[/] {result['error']} (traceback: {folder / 'error.log'})",
                      highlight=False)
    return result


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One strategy's result over its seeds: the first run's, with each numeric measure the mean over the
    runs and its spread (sample standard deviation) beside it; failed if any run failed."""
    if len(runs) == 1:
        return runs[0]
    import statistics

    failed = next((r for r in runs if r["status"] != "done"), None)
    combined = {**runs[0], "seeds": [r["seed"] for r in runs], "runs": [r["key"] for r in runs]}
    if failed is not None:
        return {**combined, "status": "failed", "error": failed["error"]}
    measures: dict[str, Any] = dict(runs[0]["measures"])
    spread: dict[str, float] = {}
    for name, value in runs[0]["measures"].items():
        values = [r["measures"][name] for r in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            measures[name], spread[name] = statistics.fmean(values), statistics.stdev(values)
    return {**combined, "measures": measures, "spread": spread,
            "seconds": sum(r["seconds"] for r in runs)}


def run_study(config: StudyConfig, settings: dict[str, BaseModel], out: Path, console: Console) -> list[dict[str, Any]]:
    """Every strategy's result, in the study's order; the report written to `out`."""
    from adaptlab.study.advice import advise
    from adaptlab.study.report import rank, write_report

    started = time.perf_counter()
    write_json(out / CONFIG, config.model_dump(mode="json"))
    console.rule("workspace: base, domain, index")
    ws = prepare_workspace(out / "workspace", config.base, config.domain, console)
    results: list[dict[str, Any]] = []
    seeds = range(config.seed, config.seed + config.seeds)
    earlier: dict[int, dict[str, dict[str, Any]]] = {seed: {} for seed in seeds}  # by seed, then name
    for i, spec in enumerate(config.strategies, 1):
        runs = []
        for seed in seeds:
            runs.append(run_strategy(i, len(config.strategies), spec.name, spec.method, settings[spec.name], ws,
                                     config, out, earlier[seed], console, seed))
            earlier[seed][spec.name] = runs[-1]
        results.append(combine(runs))
    write_json(out / RESULTS, results)
    md, html = write_report(out, results, config.costs)
    study = rank(results, config.costs)
    for pick in advise(study.ranked, study.costs, config.costs):
        console.print(f"best for {pick.need}: {pick.name}" + (f" (tied with {', '.join(pick.ties)})"
                                                               if pick.ties else ""), highlight=False)
    failed = [r["name"] for r in results if r["status"] != "done"]
    console.print(f"study done in {time.perf_counter() - started:.0f} s: {len(results) - len(failed)} strategies "
                  f"measured{', failed: ' + ', '.join(failed) if failed else ''}; report {md} and {html}",
                  highlight=False)
    return results


def rerender(out: Path) -> tuple[Path, Path]:
    """The report again from the results and settings a run saved in `out`."""
    from adaptlab.errors import UserError
    from adaptlab.study.report import write_report

    results, config = read_json(out / RESULTS), read_json(out / CONFIG)
    if results is None or config is None:
        raise UserError(f"{out}: no saved study results ({RESULTS} and {CONFIG}); run `adaptlab study run` first")
    return write_report(out, results, StudyConfig.model_validate(config).costs)
