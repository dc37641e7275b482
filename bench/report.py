"""Results of a ``make bench`` run: one row per figure, each against a baseline from the same run.

A row is ``{"value": x, "unit": "...", "baseline": y, "ratio": x / y}`` plus
what the baseline is and, where the issue sets one, the target. Benchmarks that
run in their own process write their rows to a JSON file the driver merges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypedDict


class Row(TypedDict, total=False):
    value: float
    unit: str
    baseline: float
    ratio: float
    #: What the baseline is (plain Dramatiq, a naive gateway, 1,000 jobs, ...).
    vs: str
    #: The issue's target for this figure, as text (e.g. "<= 50 ms").
    target: str
    #: Whether the value meets the target (absent when there is none).
    ok: bool


Results = dict[str, Row]


def row(
    value: float, unit: str, baseline: float, vs: str, *, target: str = "", ok: bool | None = None
) -> Row:
    """One figure; ratio is value / baseline (nan when the baseline is 0 or missing)."""
    ratio = value / baseline if baseline and not math.isnan(baseline) else float("nan")
    out = Row(value=value, unit=unit, baseline=baseline, ratio=ratio, vs=vs)
    if target:
        out["target"] = target
    if ok is not None:
        out["ok"] = ok
    return out


def _num(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "-"
    if x == 0 or abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def table(results: Results) -> str:
    """The one table ``make bench`` prints."""
    head = ("benchmark", "value", "unit", "baseline", "ratio", "target", "vs")
    lines = [
        (
            name,
            _num(r["value"]),
            r["unit"],
            _num(r["baseline"]),
            _num(r["ratio"]),
            (r.get("target", "") + ("" if "ok" not in r else " ok" if r["ok"] else " MISS")).strip(),
            r.get("vs", ""),
        )
        for name, r in results.items()
    ]
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" if i in (0, 2, 5, 6) else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing figures become null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def write(results: Results, path: Path) -> None:
    path.write_text(json.dumps(_clean(results), indent=2) + "\n")


def read(path: Path) -> Results:
    raw: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return {
        name: Row(**{k: (float("nan") if v is None else v) for k, v in r.items()})  # type: ignore[typeddict-item]
        for name, r in raw.items()
    }
