"""What each strategy costs over its life: fine-tuning charges up front, prompting is a mortgage.

A trained strategy pays once for its training and then serves short prompts; a prompting
strategy pays nothing up front and then pays for its long prompts on every request. The
break-even point is the number of requests after which the trained one has cost less in
total than the reference prompting strategy. Pure arithmetic over the runner's result
dicts, so the report and the CLI can use it without loading torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adaptlab.errors import UserError


class CostSettings(BaseModel):
    """Prices and traffic the cost model assumes; the report prints them beside its numbers."""

    model_config = ConfigDict(extra="forbid")

    compute_usd_per_hour: float = Field(
        default=2.0, ge=0,
        description="price of an hour of the machine that trains a strategy "
                    "(training cost = train_seconds / 3600 × this)")
    usd_per_million_input_tokens: float = Field(
        default=0.50, ge=0, description="serving price of a million prompt tokens")
    usd_per_million_output_tokens: float = Field(
        default=1.50, ge=0, description="serving price of a million generated tokens")
    requests_per_day: int = Field(default=10_000, gt=0, description="requests the adapted model serves a day")
    lifespan_days: int = Field(
        default=180, gt=0, description="days the adapted model is served before it is replaced")
    reference: str = Field(
        default="few_shot", min_length=1,
        description="name of the strategy (usually a prompting one) every other strategy is weighed against")

    @property
    def lifespan_requests(self) -> int:
        return self.requests_per_day * self.lifespan_days


@dataclass(frozen=True)
class BreakEven:
    """One strategy against the reference.

    `requests` is how many requests it takes for the strategy's total cost to drop to the
    reference's: 0 when it is never dearer; None when no amount of traffic makes it the
    cheaper one for good (it costs as much per request or more), or when it is the reference.
    """

    upfront_usd: float
    per_request_usd: float
    requests: float | None
    reached_within_lifespan: bool | None  # None: the strategy is the reference
    lifespan_requests: int


def _measure(measures: Mapping[str, Any], key: str) -> float:
    """A cost input; absent or None counts as zero (an untrained strategy has no train_seconds)."""
    value = measures.get(key)
    return 0.0 if value is None else float(value)


def upfront_usd(measures: Mapping[str, Any], costs: CostSettings) -> float:
    """Training cost: the hours the strategy trained for at the compute price."""
    return _measure(measures, "train_seconds") / 3600 * costs.compute_usd_per_hour


def per_request_usd(measures: Mapping[str, Any], costs: CostSettings) -> float:
    """Serving cost of one request: its prompt tokens plus its generated tokens at their prices."""
    return (_measure(measures, "prompt_tokens_per_request") * costs.usd_per_million_input_tokens
            + _measure(measures, "output_tokens_per_request") * costs.usd_per_million_output_tokens) / 1e6


def break_even(result: Mapping[str, Any], reference_result: Mapping[str, Any], costs: CostSettings) -> BreakEven:
    """Requests after which `result` has cost no more in total than `reference_result`.

    Total cost after n requests is upfront + n × per_request, a straight line; two lines
    cross at most once, so the answer is 0, one number, or never.
    """
    m, ref = result.get("measures") or {}, reference_result.get("measures") or {}
    up, per = upfront_usd(m, costs), per_request_usd(m, costs)
    lifespan = costs.lifespan_requests
    if result.get("name") == reference_result.get("name"):
        return BreakEven(up, per, None, None, lifespan)
    ref_up, ref_per = upfront_usd(ref, costs), per_request_usd(ref, costs)
    requests: float | None
    if up <= ref_up and per <= ref_per:
        requests = 0.0
    elif per < ref_per:  # dearer up front, cheaper per request: the lines cross
        requests = (up - ref_up) / (ref_per - per)
    else:  # dearer per request (or dearer up front and no cheaper per request): it only falls behind
        requests = None
    reached = requests is not None and requests <= lifespan
    return BreakEven(up, per, requests, reached, lifespan)


def cost_rows(done: Sequence[Mapping[str, Any]], reference: Mapping[str, Any] | None,
              costs: CostSettings) -> list[dict[str, Any]]:
    """Cost rows for finished strategies; with no reference (it failed) the break-even columns are None."""
    rows = []
    for result in done:
        m = result.get("measures") or {}
        if reference is not None:
            be = break_even(result, reference, costs)
        else:
            be = BreakEven(upfront_usd(m, costs), per_request_usd(m, costs), None, None, costs.lifespan_requests)
        rows.append({
            "name": result["name"],
            "method": result.get("method"),
            "reference": reference["name"] if reference is not None else None,
            "is_reference": reference is not None and result["name"] == reference["name"],
            "upfront_usd": be.upfront_usd,
            "per_request_usd": be.per_request_usd,
            "usd_per_1k_requests": be.per_request_usd * 1000,
            "lifespan_usd": be.upfront_usd + be.per_request_usd * be.lifespan_requests,
            "break_even_requests": be.requests,
            "reached_within_lifespan": be.reached_within_lifespan,
            "lifespan_requests": be.lifespan_requests,
        })
    return rows


def cost_table(results: Sequence[Mapping[str, Any]], costs: CostSettings) -> list[dict[str, Any]]:
    """One cost row per finished strategy, each weighed against `costs.reference`.

    The reference must be among the finished strategies: a break-even against a strategy
    that was never measured would be invented.
    """
    done = [r for r in results if r.get("status") == "done"]
    reference = next((r for r in done if r.get("name") == costs.reference), None)
    if reference is None:
        names = ", ".join(str(r.get("name")) for r in done) or "none"
        failed = any(r.get("name") == costs.reference for r in results)
        why = "failed" if failed else "is not among the strategies"
        raise UserError(f"cost reference {costs.reference!r} {why}; finished strategies: {names} "
                        "(set costs.reference to one of them)")
    return cost_rows(done, reference, costs)
