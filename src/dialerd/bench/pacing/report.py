"""Turns the per-day results into the published figures: markdown, JSON and PNG plots."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from dialerd.bench.pacing.policies import TARGET, abandonment_target, is_predictive
from dialerd.bench.pacing.runner import JobResult
from dialerd.bench.pacing.stats import mean_ci

METRICS: tuple[tuple[str, str, float, str], ...] = (
    # key, column label, scale, format
    ("occupancy", "occupancy %", 100.0, "{:.1f}"),
    ("talk_min_per_agent_hour", "talk min/agent-h", 1.0, "{:.1f}"),
    ("wait_mean_s", "wait mean s", 1.0, "{:.1f}"),
    ("wait_p95_s", "wait p95 s", 1.0, "{:.0f}"),
    ("abandon_rate", "abandoned %", 100.0, "{:.2f}"),
    ("abandon_worst_hour", "worst hour %", 100.0, "{:.2f}"),
    ("calls_per_agent_hour", "calls/agent-h", 1.0, "{:.1f}"),
    ("completed_per_agent_hour", "completed/agent-h", 1.0, "{:.2f}"),
)
BASELINES = ("oracle", "progressive", "vicidial-hard", "vicidial-average")

#: Issue 11 targets for predictive: talk vs oracle and vs progressive, per scenario.
ORACLE_TARGET = {"s2-large": 0.96, "s1-small": 0.88, "s3-tiny": 0.86}
PROGRESSIVE_TARGET = {"s2-large": 1.32, "s3-tiny": 1.22}
VICIDIAL_TARGET = 1.05


def by_scenario(results: list[JobResult]) -> dict[str, dict[str, dict[int, JobResult]]]:
    """scenario -> policy -> seed -> that day's result."""
    out: dict[str, dict[str, dict[int, JobResult]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        out[r.scenario][r.policy][r.seed] = r
    return out


def hours_ok(r: JobResult, target: float) -> bool:
    return all(
        a <= target * lv + 1e-9 for a, lv in zip(r.hourly_abandoned, r.hourly_live, strict=True)
    )


def summarise(results: list[JobResult], target: float = 0.03) -> dict[str, Any]:
    data = by_scenario(results)
    summary: dict[str, Any] = {}
    for scen, pols in sorted(data.items()):
        s: dict[str, Any] = {"policies": {}, "ratios": {}, "targets": {}}
        for pol, seeds in pols.items():
            entry: dict[str, Any] = {}
            for key, *_ in METRICS:
                m, lo, hi = mean_ci([r.metrics[key] for r in seeds.values()])
                entry[key] = {"mean": m, "low": lo, "high": hi}
            n_h = max(len(r.hourly_live) for r in seeds.values())
            hourly = []
            for h in range(n_h):
                rates = [
                    r.hourly_abandoned[h] / r.hourly_live[h]
                    for r in seeds.values()
                    if h < len(r.hourly_live) and r.hourly_live[h]
                ]
                hourly.append(float(np.mean(rates)) if rates else 0.0)
            entry["abandon_by_hour"] = hourly
            entry["seeds_all_hours_ok"] = sum(hours_ok(r, target) for r in seeds.values()) / len(
                seeds
            )
            entry["seeds_day_ok"] = sum(
                r.metrics["abandon_rate"] <= target + 1e-12 for r in seeds.values()
            ) / len(seeds)
            entry["seeds"] = len(seeds)
            walls = [r.wall_s for r in seeds.values()]
            entry["wall_s_per_day"] = float(np.mean(walls))
            dec = [d for r in seeds.values() for d in r.decide_s]
            if dec:
                arr = np.asarray(dec) * 1e3
                entry["decide_ms"] = {
                    "mean": float(arr.mean()),
                    "p50": float(np.percentile(arr, 50)),
                    "p99": float(np.percentile(arr, 99)),
                    "max": float(arr.max()),
                    "count": int(arr.size),
                }
            s["policies"][pol] = entry
        if "predictive" in pols:
            for base in BASELINES:
                if base in pols:
                    s["ratios"][base] = talk_ratio(pols["predictive"], pols[base])
            s["targets"] = _targets(scen, s, pols)
        summary[scen] = s
    return summary


def talk_ratio(a: dict[int, JobResult], b: dict[int, JobResult]) -> dict[str, float]:
    """Mean and 95 % interval of a's talk time over b's, paired by seed."""
    ratios = [
        a[k].metrics["talk_min_per_agent_hour"] / max(b[k].metrics["talk_min_per_agent_hour"], 1e-9)
        for k in a
        if k in b
    ]
    m, lo, hi = mean_ci(ratios)
    return {"mean": m, "low": lo, "high": hi}


def _targets(
    scen: str, s: dict[str, Any], days: dict[str, dict[int, JobResult]]
) -> list[dict[str, Any]]:
    pol = s["policies"]
    pred = pol["predictive"]
    rat = s["ratios"]
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, goal: str, ok: bool) -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": bool(ok)})

    add("seeds with every hour <= 3 %", pred["seeds_all_hours_ok"], ">= 0.95",
        pred["seeds_all_hours_ok"] >= 0.95)  # fmt: skip
    add("seeds with the day <= 3 %", pred["seeds_day_ok"], "= 1", pred["seeds_day_ok"] >= 1.0)
    if "oracle" in rat and scen in ORACLE_TARGET:
        goal = ORACLE_TARGET[scen]
        add("talk / oracle", rat["oracle"]["mean"], f">= {goal}", rat["oracle"]["mean"] >= goal)
    if "progressive" in rat:
        goal = PROGRESSIVE_TARGET.get(scen, 1.0)
        add("talk / progressive", rat["progressive"]["mean"], f">= {goal}",
            rat["progressive"]["mean"] >= goal)  # fmt: skip
    for v in ("vicidial-hard", "vicidial-average"):
        if v not in rat:
            continue
        # at equal or lower worst-hour abandonment: the predictive of the run (at the scenario's
        # target or at an operator's lower one, ``predictive:<target>``) that talks most within
        # the baseline's worst hour; the plain one when none keeps to it
        worst_v = pol[v]["abandon_worst_hour"]["mean"]
        fits = [p for p in pol if is_predictive(p) and _worst(pol, p) <= worst_v + 1e-12]
        best = max(fits, key=lambda p: pol[p]["talk_min_per_agent_hour"]["mean"], default=None)
        who = best or "predictive"
        ratio = talk_ratio(days[who], days[v])["mean"]
        ok = best is not None and ratio >= VICIDIAL_TARGET
        label = "" if who == "predictive" else f"{who}, "
        add(f"talk / {v} ({label}worst hour {100 * _worst(pol, who):.2f} % vs "
            f"{100 * worst_v:.2f} %)", ratio, f">= {VICIDIAL_TARGET} at <= worst hour",
            ok)  # fmt: skip
    return out


def _equal_abandonment_hint(scen: str, s: dict[str, Any]) -> str:
    """Where a VICIdial-style baseline abandons less than any predictive of the run: how to
    compare at its abandonment (a campaign target below its worst hour)."""
    pol = s["policies"]
    lower = [
        v
        for v in ("vicidial-hard", "vicidial-average")
        if v in pol and all(_worst(pol, v) < _worst(pol, p) for p in pol if is_predictive(p))
    ]
    if not lower:
        return ""
    worst = min(_worst(pol, v) for v in lower)
    target = max(round(worst * 0.6, 4), 0.0001)
    return (
        f"The VICIdial-style baseline abandons less than predictive on {scen} (worst hour "
        f"{100 * worst:.2f} %): to compare at its abandonment, add predictive on a lower "
        f"campaign target, e.g. `--policies predictive,{TARGET}{target:g},vicidial-hard,oracle` "
        "(an hour's bursts can exceed a low target: try a few)."
    )


def _worst(pol: dict[str, Any], name: str) -> float:
    worst: float = pol[name]["abandon_worst_hour"]["mean"]
    return worst


def ordered(policies: Iterable[str]) -> list[str]:
    """Policies in the report's order; ``predictive:<target>`` ones after predictive, the
    highest target first."""
    names = set(policies)
    targets = sorted((p for p in names if p.startswith(TARGET)), key=_target_key, reverse=True)
    out: list[str] = []
    for p in POLICY_ORDER:
        if p in names:
            out.append(p)
        if p == "predictive":
            out += targets
    return out


def _target_key(name: str) -> float:
    return abandonment_target(name) or 0.0


def _fmt(entry: dict[str, float], scale: float, fmt: str) -> str:
    m, lo, hi = entry["mean"] * scale, entry["low"] * scale, entry["high"] * scale
    return f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})"


POLICY_ORDER = ("oracle", "predictive", "vicidial-hard", "vicidial-average", "power", "progressive")


def markdown(summary: dict[str, Any], header: str = "") -> str:
    lines: list[str] = []
    if header:
        lines += [header, ""]
    for scen, s in summary.items():
        n = max((e["seeds"] for e in s["policies"].values()), default=0)
        lines.append(f"### {scen} ({n} seeds; mean and 95 % interval)")
        lines.append("")
        lines.append("| policy | " + " | ".join(label for _, label, _, _ in METRICS) + " |")
        lines.append("|---" * (len(METRICS) + 1) + "|")
        for pol in ordered(s["policies"]):
            e = s["policies"][pol]
            cells = [_fmt(e[key], scale, fmt) for key, _, scale, fmt in METRICS]
            lines.append(f"| {pol} | " + " | ".join(cells) + " |")
        lines.append("")
        if s["ratios"]:
            parts = [
                f"/{b}: {r['mean']:.3f} ({r['low']:.3f}–{r['high']:.3f})"
                for b, r in s["ratios"].items()
            ]
            lines.append("Talk time of predictive " + "; ".join(parts) + ".")
            lines.append("")
        if s["targets"]:
            lines.append("| target (predictive) | value | goal | met |")
            lines.append("|---|---|---|---|")
            for t in s["targets"]:
                mark = "yes" if t["met"] else "**NO**"
                lines.append(f"| {t['target']} | {t['value']:.3f} | {t['goal']} | {mark} |")
            lines.append("")
            hint = _equal_abandonment_hint(scen, s)
            if hint:
                lines += [hint, ""]
        pred = s["policies"].get("predictive", {})
        if "decide_ms" in pred:
            d = pred["decide_ms"]
            lines.append(
                f"Predictive decision time: mean {d['mean']:.3f} ms, p99 {d['p99']:.3f} ms, "
                f"max {d['max']:.3f} ms over {d['count']} decisions. Simulated day wall time: "
                + ", ".join(f"{p} {e['wall_s_per_day']:.2f} s" for p, e in s["policies"].items())
                + "."
            )
            lines.append("")
    return "\n".join(lines)


def write_json(
    summary: dict[str, Any], results: list[JobResult], path: Path, meta: dict[str, Any]
) -> None:
    raw = [
        {
            "scenario": r.scenario,
            "policy": r.policy,
            "seed": r.seed,
            "metrics": r.metrics,
            "hourly_live": r.hourly_live,
            "hourly_abandoned": r.hourly_abandoned,
            "wall_s": r.wall_s,
            "decisions": r.decisions,
        }
        for r in results
    ]
    path.write_text(json.dumps({"meta": meta, "summary": summary, "runs": raw}, indent=1))


def panels(n: int) -> tuple[Any, Any]:
    """A headless figure with one panel per scenario, three to a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, n)
    rows = (n + cols - 1) // cols
    return plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)


def finish_panel(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def save_panels(fig: Any, axes: Any, used: int, path: Path) -> Path:
    """Blanks the panels no scenario used, writes the PNG and frees the figure."""
    import matplotlib.pyplot as plt

    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot(summary: dict[str, Any], out: Path) -> list[Path]:
    scens = list(summary)
    if not scens:
        return []
    fig, axes = panels(len(scens))
    for ax, scen in zip(axes.flat, scens, strict=False):
        for pol in ordered(summary[scen]["policies"]):
            e = summary[scen]["policies"][pol]
            x = e["abandon_worst_hour"]
            y = e["occupancy"]
            ax.errorbar(
                100 * x["mean"],
                100 * y["mean"],
                xerr=[[100 * (x["mean"] - x["low"])], [100 * (x["high"] - x["mean"])]],
                yerr=[[100 * (y["mean"] - y["low"])], [100 * (y["high"] - y["mean"])]],
                fmt="o",
                label=pol,
                capsize=3,
            )
        ax.axvline(3.0, color="grey", linestyle=":")
        finish_panel(
            ax, scen, "abandoned, worst hour (% of live answers)", "occupancy (% talk of logged-in)"
        )
    p1 = save_panels(fig, axes, len(scens), out / "pacing-occupancy-vs-abandonment.png")

    fig, axes = panels(len(scens))
    for ax, scen in zip(axes.flat, scens, strict=False):
        for pol in ordered(summary[scen]["policies"]):
            e = summary[scen]["policies"][pol]
            hourly = e["abandon_by_hour"]
            ax.plot(range(1, len(hourly) + 1), [100 * v for v in hourly], marker="o", label=pol)
        ax.axhline(3.0, color="grey", linestyle=":")
        finish_panel(ax, scen, "hour of the day", "abandoned (% of live answers, mean over seeds)")
    p2 = save_panels(fig, axes, len(scens), out / "pacing-abandonment-by-hour.png")
    return [p1, p2]
