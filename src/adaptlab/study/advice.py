"""What to choose for this domain, read off the measured results: the best strategy for knowledge,
for behaviour and for both, and the cheapest over the configured traffic and lifespan.

Each pick carries the figures that decide it and its break-even against the reference. Two
strategies whose scores differ by no more than their spread (the larger sample standard deviation
over `--seeds` runs; none with one seed, so only equal scores tie) tie, and the pick names them.
Pure arithmetic over the runner's result dicts and the cost rows, as `cost` is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Measures = Mapping[str, Any]


@dataclass(frozen=True)
class Goal:
    need: str  # what the user needs, in the report's words
    score: Callable[[Measures], float | None]  # higher is better
    spread: Callable[[Measures], float]
    decides: str  # the figures that decide it, in words


def _get(key: str) -> Callable[[Measures], float | None]:
    return lambda m: m.get(key)


def _spread(*keys: str) -> Callable[[Measures], float]:
    return lambda s: max((s.get(k) or 0.0) for k in keys)


BOTH = ("knowledge_em", "format_compliance", "content_accuracy")


def both(m: Measures) -> float | None:
    """Knows and behaves: the least of knowledge EM, format compliance and content accuracy, so a
    strategy scores high only when it answers questions right and writes records right in form and fact."""
    values = [m.get(k) for k in BOTH]
    return None if any(v is None for v in values) else min(values)  # type: ignore[type-var]


GOALS = (
    Goal("knowledge (answers the domain's questions)", _get("knowledge_em"), _spread("knowledge_em"),
         "knowledge EM"),
    Goal("behaviour (answers in the required format)", _get("format_compliance"), _spread("format_compliance"),
         "format compliance"),
    Goal("both (right facts in the right form)", both, _spread(*BOTH),
         "the least of knowledge EM, format compliance and content accuracy"),
)


@dataclass(frozen=True)
class Pick:
    need: str
    name: str
    ties: list[str]  # strategies within the spread of the pick
    figures: str  # the figures that decide it, and what it costs


def _cost_words(row: Mapping[str, Any], costs: Any) -> str:
    """What a strategy costs: per 1k requests, up front, over the lifespan, and its break-even."""
    text = (f"${row['usd_per_1k_requests']:.4f} per 1k requests, ${row['upfront_usd']:.4f} up front, "
            f"${row['lifespan_usd']:,.2f} over the lifespan ({costs.lifespan_requests:,} requests)")
    if not row.get("reference"):
        return text
    if row["is_reference"]:
        return f"{text}; it is the reference"
    at = row["break_even_requests"]
    even = (f"never dearer than {row['reference']}" if at == 0 else
            f"no traffic makes it cheaper than {row['reference']}" if at is None else
            f"cheaper than {row['reference']} after {math.ceil(at):,} requests"
            + ("" if row["reached_within_lifespan"] else ", beyond the lifespan"))
    return f"{text}; {even}"


def _scores(m: Measures) -> str:
    parts = [f"{label} {m[key]:.3f}" for key, label in (("knowledge_em", "knowledge EM"),
                                                           ("format_compliance", "format compliance"),
                                                           ("content_accuracy", "content accuracy"))
             if m.get(key) is not None]
    return ", ".join(parts)


def advise(ranked: Sequence[Mapping[str, Any]], cost_rows: Mapping[str, Mapping[str, Any]], costs: Any) -> list[Pick]:
    """The picks, in the order of `GOALS` and then the cheapest; a goal no finished strategy measures is left out."""
    picks = []
    for goal in GOALS:
        scored = [(goal.score(r.get("measures") or {}), goal.spread(r.get("spread") or {}), r) for r in ranked]
        scored = [(s, spread, r) for s, spread, r in scored if s is not None]
        if not scored:
            continue
        best, best_spread, winner = max(scored, key=lambda item: item[0])  # the first of equals: ranked order
        ties = [r["name"] for s, spread, r in scored
                if r is not winner and best - s <= max(best_spread, spread)]
        figures = (f"{goal.decides}: {best:.3f} ({_scores(winner['measures'])}); "
                   f"{_cost_words(cost_rows[winner['name']], costs)}")
        picks.append(Pick(goal.need, winner["name"], ties, figures))
    if ranked:
        cheapest = min(ranked, key=lambda r: cost_rows[r["name"]]["lifespan_usd"])
        lowest = cost_rows[cheapest["name"]]["lifespan_usd"]
        ties = [r["name"] for r in ranked if r is not cheapest and cost_rows[r["name"]]["lifespan_usd"] == lowest]
        figures = f"{_cost_words(cost_rows[cheapest['name']], costs)}; {_scores(cheapest.get('measures') or {})}"
        picks.append(Pick(f"the lowest cost ({costs.requests_per_day:,} requests a day for {costs.lifespan_days} days)",
                          cheapest["name"], ties, figures))
    return picks


def prompting_effect(ranked: Sequence[Mapping[str, Any]]) -> str | None:
    """What showing solved examples changed, layout by layout: the few-shot strategy against the
    zero-shot one (None unless the study has both, measured by layout)."""
    by_method = {r.get("method"): r for r in ranked}
    zero, few = by_method.get("zero_shot"), by_method.get("few_shot")
    if zero is None or few is None:
        return None
    z, f = zero.get("measures") or {}, few.get("measures") or {}
    z_kinds, f_kinds = z.get("format_compliance_by_kind") or {}, f.get("format_compliance_by_kind") or {}
    if not z_kinds or not f_kinds:
        return None
    verdict = "above" if f["format_compliance"] > z["format_compliance"] else \
        "level with" if f["format_compliance"] == z["format_compliance"] else "below"
    layouts = ", ".join(f"{kind} {f_kinds[kind]:.2f} against {z_kinds.get(kind, 0.0):.2f}" for kind in f_kinds)
    text = (f"Prompting: few-shot ({few['name']}) answers in the required format {f['format_compliance']:.3f} of "
            f"the time, {verdict} zero-shot's {z['format_compliance']:.3f} ({zero['name']}); by layout, few-shot "
            f"against zero-shot: {layouts}.")
    unmoved = [kind for kind in f_kinds if f_kinds[kind] <= z_kinds.get(kind, 0.0) and f_kinds[kind] < 0.5]
    if unmoved:
        text += (f" The examples shown did not make the base write the {' and '.join(unmoved)} layouts it does "
                 "not already follow; fine-tuning on them is what teaches them.")
    return text
