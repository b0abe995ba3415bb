"""``dialerd bench pacing --frontier``: the predictive model's own curve of talk time against
abandons, to say what limits the windowed policy.

The windowed ``predictive`` policy is a controller (compliance windows, calibration) on top of
a model that, at a given planning rate, places the calls it places. Planning at one fixed rate
all day, with no window and no calibration, shows what the model buys with each abandon: the
talk time ÷ the oracle's against the abandonment it costs. Where that curve reaches a talk-time
target only above the abandonment limit, no controller on this model meets both, and the
limit is the model, not its tuning. The curve uses the same seeds as the baselines, so each
point is a same-seed ratio like the main report's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialerd.bench.pacing.policies import FIXED_RATE, KNOWN_AGENTS, fixed_rate
from dialerd.bench.pacing.report import (
    ORACLE_TARGET,
    PROGRESSIVE_TARGET,
    by_scenario,
    finish_panel,
    hours_ok,
    panels,
    save_panels,
)
from dialerd.bench.pacing.runner import JobResult
from dialerd.bench.pacing.stats import mean_ci

#: Planning rates swept by default: from progressive-like to twice the usual 3 % target.
DEFAULT_RATES = (0.0, 0.0003, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04)
#: Policies every frontier run also simulates: the references and the windowed policy.
REFERENCES = ("oracle", "progressive", "predictive")


def policy_names(rates: tuple[float, ...], known_agents: bool = False) -> list[str]:
    """The references and one fixed-rate predictive per rate (told every agent's free time
    with ``known_agents``: the curve a perfect forecast of agents would give)."""
    suffix = KNOWN_AGENTS if known_agents else ""
    return [*REFERENCES, *(f"{FIXED_RATE}{r:g}{suffix}" for r in rates)]


def summarise(results: list[JobResult], target: float = 0.03) -> dict[str, Any]:
    """Per scenario: each policy's same-seed talk ratios, abandonment and hours kept, and where
    the fixed-rate curve crosses the scenario's talk-time targets."""
    out: dict[str, Any] = {}
    for scen, pols in sorted(by_scenario(results).items()):
        oracle, prog = pols.get("oracle", {}), pols.get("progressive", {})
        rows = []
        for pol, days in pols.items():
            if pol in ("oracle", "progressive"):
                continue
            seeds = [s for s in days if s in oracle and s in prog]
            if not seeds:
                continue
            talk = {s: days[s].metrics["talk_min_per_agent_hour"] for s in seeds}
            vs_oracle = [talk[s] / oracle[s].metrics["talk_min_per_agent_hour"] for s in seeds]
            vs_prog = [talk[s] / prog[s].metrics["talk_min_per_agent_hour"] for s in seeds]
            live = sum(sum(days[s].hourly_live) for s in seeds)
            abandoned = sum(sum(days[s].hourly_abandoned) for s in seeds)
            row: dict[str, Any] = {
                "policy": pol,
                "rate": fixed_rate(pol),
                "oracle": mean_ci(vs_oracle),
                "progressive": mean_ci(vs_prog),
                "abandoned": abandoned / live if live else 0.0,
                "worst_hour": max(days[s].metrics["abandon_worst_hour"] for s in seeds),
                "days_ok": sum(
                    hours_ok(days[s], target) and days[s].metrics["abandon_rate"] <= target
                    for s in seeds
                ),
                "days": len(seeds),
            }
            rows.append(row)
        rows.sort(key=lambda r: (r["rate"] is not None, r["rate"] or 0.0))
        curve = [r for r in rows if r["rate"] is not None]
        needs = {}
        if scen in ORACLE_TARGET:
            needs["oracle"] = crossing(curve, "oracle", ORACLE_TARGET[scen])
        if scen in PROGRESSIVE_TARGET:
            needs["progressive"] = crossing(curve, "progressive", PROGRESSIVE_TARGET[scen])
        windowed = next((r for r in rows if r["policy"] == "predictive"), None)
        same = curve_at(curve, "oracle", windowed["abandoned"]) if windowed and curve else None
        out[scen] = {"rows": rows, "needs": needs, "curve_at_windowed": same}
    return out


def curve_at(curve: list[dict[str, Any]], key: str, abandoned: float) -> float | None:
    """The curve's talk ratio at a day's abandonment (linear between the swept rates that
    bracket it; None outside the sweep)."""
    pts = sorted((float(r["abandoned"]), float(r[key][0])) for r in curve)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= abandoned <= x1:
            return y0 if x1 == x0 else y0 + (abandoned - x0) * (y1 - y0) / (x1 - x0)
    return None


def crossing(curve: list[dict[str, Any]], key: str, goal: float) -> float | None:
    """The day's abandonment at which the curve's talk ratio reaches ``goal`` (linear between
    swept rates); None when no swept rate reaches it. Interpolated on the rising part only:
    the curve's noise between close rates must not make a crossing appear twice."""
    prev: tuple[float, float] | None = None
    for r in curve:
        x, y = r["abandoned"], r[key][0]
        if y >= goal:
            if prev is None or y == prev[1]:
                return float(x)
            x0, y0 = prev
            return float(x0 + (goal - y0) * (x - x0) / (y - y0))
        if prev is None or y > prev[1]:
            prev = (x, y)
    return None


def markdown(summary: dict[str, Any], header: str, target: float = 0.03) -> str:
    lines = [header, ""]
    for scen, s in summary.items():
        days = s["rows"][0]["days"] if s["rows"] else 0
        lines += [
            f"### {scen}: the model's curve ({days} seeds)",
            "",
            "| policy | planning rate | talk ÷ oracle | talk ÷ progressive | abandoned (day) "
            f"| worst hour | days with every hour ≤ {100 * target:g} % |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            rate = "windows" if r["rate"] is None else f"{100 * r['rate']:g} %"
            o, p = r["oracle"], r["progressive"]
            lines.append(
                f"| {r['policy']} | {rate} | {o[0]:.4f} ({o[1]:.4f}–{o[2]:.4f}) | "
                f"{p[0]:.3f} | {100 * r['abandoned']:.2f} % | {100 * r['worst_hour']:.2f} % | "
                f"{r['days_ok']}/{r['days']} |"
            )
        windowed = next((r for r in s["rows"] if r["rate"] is None), None)
        if windowed and s["curve_at_windowed"] is not None:
            lines.append("")
            lines.append(
                f"At the windowed policy's abandonment ({100 * windowed['abandoned']:.2f} %) "
                f"the curve gives {s['curve_at_windowed']:.4f} × oracle; the windowed policy "
                f"{windowed['oracle'][0]:.4f}."
            )
        for key, at in s["needs"].items():
            goal = (ORACLE_TARGET if key == "oracle" else PROGRESSIVE_TARGET)[scen]
            where = (
                "beyond the swept rates"
                if at is None
                else f"at {100 * at:.2f} % of live answers abandoned over the day"
            )
            first = next(
                (r for r in s["rows"] if r["rate"] is not None and r[key][0] >= goal), None
            )
            if first is not None:
                where += (
                    f"; the first swept rate there ({100 * first['rate']:g} %) kept every hour "
                    f"≤ {100 * target:g} % in {first['days_ok']} of {first['days']} days"
                )
            lines.append("")
            lines.append(f"Talk ≥ {goal} × {key}: reached on this curve {where}.")
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict[str, Any], out: Path, target: float = 0.03) -> Path | None:
    scens = [s for s in summary if summary[s]["rows"]]
    if not scens:
        return None
    fig, axes = panels(len(scens))
    for ax, scen in zip(axes.flat, scens, strict=False):
        s = summary[scen]
        curve = [r for r in s["rows"] if r["rate"] is not None]
        ax.plot(
            [100 * r["abandoned"] for r in curve],
            [r["oracle"][0] for r in curve],
            marker="o",
            label="model at a fixed planning rate",
        )
        for r in s["rows"]:
            if r["rate"] is None:
                ax.plot(100 * r["abandoned"], r["oracle"][0], "s", label=r["policy"])
        if scen in ORACLE_TARGET:
            ax.axhline(ORACLE_TARGET[scen], color="grey", linestyle="--", label="talk target")
        ax.axvline(100 * target, color="grey", linestyle=":")
        finish_panel(
            ax, scen, "abandoned over the day (% of live answers)", "talk ÷ oracle (same seeds)"
        )
    return save_panels(fig, axes, len(scens), out / "pacing-frontier.png")
