"""The study's report: every strategy side by side, as Markdown and as one self-contained HTML page.

The HTML inlines its figures as data URIs and its style in one <style> tag, so the page
can be mailed or attached to a ticket and still show everything. The Markdown refers to
the same figures as PNG files beside it, for reading in a repository. Every file is
written atomically, so an interrupted study never leaves half a report.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from adaptlab.fileio import write_file
from adaptlab.study.advice import advise, prompting_effect
from adaptlab.study.cost import CostSettings, cost_rows, cost_table

TEMPLATES = Path(__file__).parent / "templates"
FIGURES = {  # file stem -> (heading, caption, what the report says when there is nothing to draw), in page order
    "knowledge_vs_behaviour": ("Knowledge vs behaviour",
                               "What each strategy knows (x: context optimisation) against how it answers "
                               "(y: model optimisation), in the chapter's four quadrants",
                               "No finished strategy has both knowledge and format measures."),
    "loss_curves": ("Training loss", "Train loss against step for every strategy that trained",
                    "No strategy trained, so there are no loss curves."),
    "cost_break_even": ("Cost over the lifespan",
                        "Cumulative cost against requests served; circles mark where a strategy's "
                        "total cost falls to the reference's (log scales on both axes)",
                        "No strategy finished, so there is nothing to price."),
}
HOW_TO_READ = (
    "Each row is one way of adapting the same base model to the same domain, measured on the same "
    "tasks on the same machine. Knowledge EM is exact match on the domain's questions: does the model "
    "know the facts. Format compliance is the share of answers given in the required form: does it "
    "behave. Content accuracy is the share of format instructions whose record carries the reference's "
    "fact in every field, whatever its form: right facts where the form is asked for. The two need not "
    "move together, which is what the knowledge-vs-behaviour plot shows. With several seeds each figure "
    "is a mean ± its spread (the sample standard deviation over the runs). "
    "Bits per byte (bpb) measure how well the model predicts held-out domain text and general text; "
    "lower is better, and general bpb rising above the base's is forgetting.",
    "Latency, tokens/s and peak memory are what serving the strategy costs; trainable parameters, "
    "train time and artifact size are what building it cost. The dollar columns put one price on both: "
    "upfront $ is the training time at the compute price, $/1k requests is serving at the token "
    "prices, and break-even requests is how many requests it takes before a strategy has cost less "
    "in total than the reference. Fine-tuning charges up front; prompt engineering is a mortgage, "
    "paid on every request in prompt tokens. \"never\" means the strategy costs as much as the "
    "reference per request or more, so no amount of traffic makes it the cheaper one for good; 0 means "
    "it is never the dearer one. Bold marks the best value of a column where better has a direction.",
)


@dataclass(frozen=True)
class Study:
    """The finished strategies, best knowledge first, with their cost rows."""

    ranked: list[dict[str, Any]]
    costs: dict[str, dict[str, Any]]  # strategy name -> cost row
    failed: list[dict[str, Any]]
    cost_note: str  # why break-even is missing, if it is


def rank(results: Sequence[Mapping[str, Any]], costs: CostSettings) -> Study:
    """Sort finished strategies by knowledge EM (best first, unmeasured last) and price them.

    A failed reference leaves the break-even columns empty, with a note saying why,
    rather than losing the whole report; a reference absent from the study is the
    user's mistake and raises.
    """
    done = [dict(r) for r in results if r.get("status") == "done"]
    failed = [dict(r) for r in results if r.get("status") != "done"]

    def key(indexed: tuple[int, dict[str, Any]]) -> tuple[float, int]:
        em = (indexed[1].get("measures") or {}).get("knowledge_em")
        return (-em if em is not None else math.inf, indexed[0])

    ranked = [r for _, r in sorted(enumerate(done), key=key)]
    note = ""
    if any(r.get("name") == costs.reference for r in failed):
        rows = cost_rows(ranked, None, costs)
        note = f"The reference strategy {costs.reference!r} failed, so no break-even is computed."
    elif ranked:
        rows = cost_table(ranked, costs)
    else:
        rows = []
    return Study(ranked, {row["name"]: row for row in rows}, failed, note)


# ---- the leaderboard ----

@dataclass(frozen=True)
class Column:
    """One leaderboard column: where its value comes from, how it prints, and which way is better."""

    header: str
    value: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]  # (measures, cost row) -> value
    text: Callable[[Any], str]
    best: str | None = None  # "max" or "min": bold the best; None where "better" has no direction
    numeric: bool = True
    spread: Callable[[Mapping[str, Any]], Any] | None = None  # (spread) -> its spread over seeds, where it has one


def _fixed(digits: int) -> Callable[[Any], str]:
    return lambda v: "—" if v is None else f"{v:,.{digits}f}"


def _count(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def _usd(v: Any) -> str:
    if v is None:
        return "—"
    return "$0" if v == 0 else f"${v:,.4f}" if v < 1 else f"${v:,.2f}"


def _break_even(row: Mapping[str, Any]) -> Any:
    if not row.get("reference"):
        return "—"
    if row["is_reference"]:
        return "reference"
    n = row["break_even_requests"]
    return "never" if n is None else math.ceil(n)  # a fraction of a request is not served


def _yes_no(v: Any) -> str:
    return "—" if v is None else "yes" if v else "no"


def _measure(key: str, scale: float = 1.0) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    def get(measures: Mapping[str, Any], cost: Mapping[str, Any]) -> Any:
        v = measures.get(key)
        return None if v is None else v * scale
    return get


def _measured(header: str, key: str, text: Callable[[Any], str], best: str | None = None,
              scale: float = 1.0) -> Column:
    """A column of one measure, with its spread over seeds where the study ran several."""
    return Column(header, _measure(key, scale), text, best, spread=lambda spread: _measure(key, scale)(spread, {}))


def _cost(key: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    return lambda measures, cost: cost.get(key)


COLUMNS = (
    _measured("knowledge EM", "knowledge_em", _fixed(3), "max"),
    _measured("format compliance", "format_compliance", _fixed(3), "max"),
    _measured("content accuracy", "content_accuracy", _fixed(3), "max"),
    _measured("domain bpb", "domain_bpb", _fixed(3), "min"),
    _measured("general bpb", "general_bpb", _fixed(3), "min"),
    _measured("latency p50 (ms)", "latency_p50_s", _fixed(1), "min", scale=1000),
    _measured("tokens/s", "tokens_per_second", _fixed(1), "max"),
    Column("peak memory (MB)", _measure("peak_memory_mb"), _fixed(0), "min"),
    Column("trainable params", _measure("trainable_parameters"), _count),
    Column("train time (s)", _measure("train_seconds"), _fixed(1)),
    Column("artifact size (MB)", _measure("artifact_bytes", 1e-6), _fixed(2)),
    Column("prompt tokens/request", _measure("prompt_tokens_per_request"), _fixed(1), "min"),
    Column("upfront $", _cost("upfront_usd"), _usd),
    Column("$/1k requests", _cost("usd_per_1k_requests"), _usd, "min"),
    Column("break-even requests", lambda m, c: _break_even(c), lambda v: f"{v:,}" if isinstance(v, int) else v),
    Column("reached within lifespan", _cost("reached_within_lifespan"), _yes_no),
)
HEADERS = ("strategy", "method") + tuple(col.header for col in COLUMNS)


def _best(column: Column, values: list[Any]) -> Any:
    """The value to bold, or None where bold would say nothing (no direction, fewer than two distinct values)."""
    present = {v for v in values if v is not None}
    if column.best is None or len(present) < 2:
        return None
    return max(present) if column.best == "max" else min(present)


def leaderboard(study: Study) -> list[dict[str, Any]]:
    """One row of printed cells per finished strategy, in rank order; each cell knows whether it is the best."""
    values = [[col.value(r.get("measures") or {}, study.costs[r["name"]]) for col in COLUMNS] for r in study.ranked]
    best = [_best(col, [row[i] for row in values]) for i, col in enumerate(COLUMNS)]

    def text(col: Column, value: Any, spread: Mapping[str, Any]) -> str:
        around = col.spread(spread) if col.spread is not None and value is not None else None
        return col.text(value) + ("" if around is None else f" ± {col.text(around)}")

    return [{
        "name": r["name"],
        "method": r.get("method") or "—",
        "is_reference": study.costs[r["name"]]["is_reference"],
        "cells": [{"text": text(col, v, r.get("spread") or {}), "best": best[i] is not None and v == best[i],
                   "numeric": col.numeric} for i, (col, v) in enumerate(zip(COLUMNS, row))],
    } for r, row in zip(study.ranked, values)]


# ---- the figures ----

def _figure(width: float, height: float) -> Any:
    """A figure on the Agg canvas, outside pyplot: no global state, no display needed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _colors(names: Sequence[str]) -> dict[str, Any]:
    """One colour per strategy, the same in every figure."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


QUADRANTS = ("prompt engineering", "retrieval-augmented generation", "fine-tuning",
             "all of the above: retrieval + fine-tuning")
"""The chapter's Figure 5-2, bottom-left, bottom-right, top-left, top-right: where each kind of adaptation
moves a model (what it knows, x, against how it behaves, y)."""
QUADRANT_CORNERS = ((0.01, 0.01, "left", "bottom"), (0.99, 0.01, "right", "bottom"), (0.01, 0.99, "left", "top"),
                    (0.99, 0.99, "right", "top"))


def knowledge_vs_behaviour(ranked: Sequence[Mapping[str, Any]], colors: Mapping[str, Any]) -> bytes | None:
    """The chapter's knowledge-vs-behaviour plane, measured: one labelled point per strategy."""
    points = [(r["name"], m["knowledge_em"], m["format_compliance"]) for r in ranked
              for m in [r.get("measures") or {}]
              if m.get("knowledge_em") is not None and m.get("format_compliance") is not None]
    if not points:
        return None
    fig = _figure(8, 5.2)
    ax = fig.add_subplot()
    labels: dict[tuple[float, float], list[str]] = {}
    for name, x, y in points:
        ax.scatter(x, y, s=70, color=colors[name], edgecolors="black", linewidths=0.6, zorder=3)
        labels.setdefault((round(x, 3), round(y, 3)), []).append(name)
    for (x, y), names in labels.items():  # strategies on the same spot share one label instead of overprinting
        shared = len(names) > 1  # a shared label above its point, a single name below: they rarely collide
        ax.annotate(textwrap.fill(", ".join(names), 48), (x, y), xytext=(7, 5 if shared else -5),
                    textcoords="offset points", fontsize=9, va="bottom" if shared else "top")
    ax.set_xlim(-0.05, 1.08)  # both are shares: the whole plane, so distances read true
    ax.set_ylim(-0.12, 1.08)
    ax.axvline(0.5, color="0.7", linewidth=0.8, zorder=1)
    ax.axhline(0.5, color="0.7", linewidth=0.8, zorder=1)
    for (x, y, ha, va), text in zip(QUADRANT_CORNERS, QUADRANTS):
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=9, color="0.45", style="italic")
    ax.set_xlabel("context optimisation, what the model knows: domain QA exact match")
    ax.set_ylabel("model optimisation, how it behaves:\nformat compliance")
    ax.set_title("Knowledge vs behaviour")
    ax.grid(alpha=0.3)
    return _png(fig)


def loss_curves(ranked: Sequence[Mapping[str, Any]], colors: Mapping[str, Any]) -> bytes | None:
    """Train loss against step, one line per strategy that trained."""
    trained = [r for r in ranked if r.get("loss_curve")]
    if not trained:
        return None
    fig = _figure(8, 4.6)
    ax = fig.add_subplot()
    for r in trained:
        curve = [p for p in r["loss_curve"] if p.get("train_loss") is not None]
        ax.plot([p["step"] for p in curve], [p["train_loss"] for p in curve], label=r["name"],
                color=colors[r["name"]], linewidth=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("train loss (nats/token)")
    ax.set_title("Training loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


def _even_label(row: Mapping[str, Any]) -> str:
    """The break-even in a legend entry, where numbers beside close points would overprint."""
    at = row["break_even_requests"]
    if row["is_reference"]:
        return "reference"
    if at is None:
        return "never even"
    return "never dearer" if at == 0 else f"even at {math.ceil(at):,}"


def cost_break_even(ranked: Sequence[Mapping[str, Any]], priced: Mapping[str, Mapping[str, Any]],
                    costs: CostSettings, colors: Mapping[str, Any]) -> bytes | None:
    """Cumulative cost (upfront + n × per request) against requests served, on log–log axes.

    Log scales because the story is at both ends: a training bill of cents that is repaid
    within the first thousand requests, and a lifespan of millions.
    """
    if not ranked:
        return None
    import numpy as np

    horizon = costs.lifespan_requests
    n = np.geomspace(1, horizon, 256)
    fig = _figure(8, 4.8)
    ax = fig.add_subplot()
    for r in ranked:
        row = priced[r["name"]]
        total = row["upfront_usd"] + n * row["per_request_usd"]
        label = f"{r['name']} ({_even_label(row)})" if row["reference"] else r["name"]
        ax.plot(n, np.where(total > 0, total, np.nan), label=label, color=colors[r["name"]],
                linewidth=2.4 if row["is_reference"] else 1.5, linestyle="--" if row["is_reference"] else "-")
        at = row["break_even_requests"]
        if at is not None and 1 <= at <= horizon:
            y = row["upfront_usd"] + at * row["per_request_usd"]
            ax.scatter([at], [y], s=60, facecolors="white", edgecolors=colors[r["name"]], linewidths=2, zorder=4)
    ax.set_xscale("log")
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlim(1, horizon)
    ax.set_xlabel(f"requests served ({costs.requests_per_day:,}/day for {costs.lifespan_days} days)")
    ax.set_ylabel("cumulative cost (USD)")
    ax.set_title("Cost over the lifespan")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


# ---- writing ----

def write_report(out_dir: Path, results: list[dict], costs: CostSettings, *,
                 title: str = "adaptlab study") -> tuple[Path, Path]:
    """Write `report.md`, a self-contained `report.html` and `figures/*.png` into `out_dir`; return the two reports."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    study = rank(results, costs)
    colors = _colors([r["name"] for r in study.ranked])
    pngs = {
        "knowledge_vs_behaviour": knowledge_vs_behaviour(study.ranked, colors),
        "loss_curves": loss_curves(study.ranked, colors),
        "cost_break_even": cost_break_even(study.ranked, study.costs, costs, colors),
    }
    for name, png in pngs.items():
        path = out_dir / "figures" / f"{name}.png"
        if png is None:
            path.unlink(missing_ok=True)  # an earlier report's figure that has nothing to show now
        else:
            write_file(path, png)
    context = {
        "title": title,
        "headers": HEADERS,
        "rows": leaderboard(study),
        "failed": [{"name": r.get("name"), "method": r.get("method") or "—", "error": _first_line(r.get("error"))}
                   for r in study.failed],
        "n_total": len(results),
        "costs": costs,
        "cost_note": study.cost_note,
        "how_to_read": HOW_TO_READ,
        "advice": advise(study.ranked, study.costs, costs),
        "prompting_note": prompting_effect(study.ranked),
        "sections": [{"title": FIGURES[name][0], "caption": FIGURES[name][1], "missing": FIGURES[name][2],
                      "file": f"figures/{name}.png" if png is not None else None,
                      "data_uri": None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()}
                     for name, png in pngs.items()],
    }
    env = _environment()
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_file(md_path, env.get_template("report.md.j2").render(context).encode())
    write_file(html_path, env.get_template("report.html.j2").render(context).encode())
    return md_path, html_path


def _first_line(error: Any) -> str:
    lines = str(error or "").strip().splitlines()
    return lines[0] if lines else "failed without a message"


def _md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: a pipe would end the cell, a newline the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _breakable(text: Any, after: str) -> Markup:
    """Escaped text that may wrap after each `after`: long snake_case names would otherwise widen the table."""
    return Markup(escape(str(text)).replace(after, Markup(after + "<wbr>")))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = _md_cell
    env.filters["wbr"] = _breakable
    return env


