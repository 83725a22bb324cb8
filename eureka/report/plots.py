"""Static plots for the report (matplotlib, Agg backend), returned as embeddable SVG data URIs.

Why matplotlib and SVG: the report must open offline from disk, in any browser, years later. A static
SVG needs no JavaScript (plotly's offline bundle would add ~3.5 MB of JS to every report and one more
dependency), stays sharp when zoomed or printed, and for the few hundred points a search produces it is
a few tens of kB. Glyphs are stored as paths, so no font is needed at viewing time.
"""

from __future__ import annotations

import base64
import io
import random
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

from eureka.analyze.estimate import ROLES, Estimate  # noqa: E402
from eureka.evolve.seedstats import SeedStats  # noqa: E402
from eureka.report.rundata import CandidateData, RunData  # noqa: E402

plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "eureka-report", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                     "grid.alpha": 0.3, "figure.dpi": 100})

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
ENV_COLOR, SPARSE_COLOR, FINAL_COLOR = "#2a9d8f", "#9c6ade", "#d62828"


def readable(fig) -> None:
    """Every axis of ``fig`` readable whatever its values: no offset or scientific notation on the y ticks
    (matplotlib shows ``1e-17`` above an axis of equal values), and a flat range padded around its value."""
    for ax in fig.axes:
        fmt = ax.yaxis.get_major_formatter()
        if isinstance(fmt, ScalarFormatter):
            fmt.set_useOffset(False)
            fmt.set_scientific(False)
        lo, hi = ax.get_ylim()
        data = ax.dataLim
        if data.height < 1e-9 * max(1.0, abs(data.y0), abs(data.y1)) and np.isfinite(data.y0):
            y = round(float(data.y0), 9) + 0.0  # + 0.0: no negative zero
            pad = max(abs(y) * 0.1, 1.0 if abs(y) >= 1 else 0.1 if y != 0 else 1.0)
            ax.set_ylim(y - pad, y + pad)
        elif hi - lo < 1e-9 * max(1.0, abs(lo), abs(hi)):
            ax.set_ylim(lo - 1.0, hi + 1.0)


def to_data_uri(fig) -> str:
    """The figure as ``data:image/svg+xml;base64,...`` (and close it); its axes made ``readable`` first."""
    readable(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _g(v: float) -> str:
    """3 significant digits, never in exponent form for ordinary magnitudes."""
    return f"{v:.3g}" if abs(v) < 1000 and (v == 0 or abs(v) >= 1e-3) else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2e}")


def _band(ax, stats: SeedStats, color: str, label: str) -> None:
    if stats.mean is None:
        return
    std = stats.std or 0.0
    ax.axhspan(stats.mean - std, stats.mean + std, color=color, alpha=0.15, lw=0)
    n = len(stats.values)
    ax.axhline(stats.mean, color=color, lw=1.2, ls="--",
               label=f"{label}: {_g(stats.mean)} ± {_g(std)} ({n} seed{'s' if n != 1 else ''})")


def fitness_plot(run: RunData) -> str | None:
    """Every candidate's search fitness per iteration, the best so far, baseline bands, the final re-training."""
    pts = [c for c in run.candidates if c.fitness is not None]
    failed = [c for c in run.candidates if c.fitness is None and c.status in ("rejected", "failed")]
    if not pts and run.final.mean is None and run.env_baseline.mean is None:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    rng = random.Random(0)
    its = run.iterations or [0]
    ax.scatter([c.iteration + rng.uniform(-0.12, 0.12) for c in pts], [cast(float, c.fitness) for c in pts], s=22,
               color=COLORS[0], alpha=0.75, label="candidate (mean over its search seeds)", zorder=3)
    best = run.best
    if best is not None and best.fitness is not None:
        ax.scatter([best.iteration], [best.fitness], s=90, facecolor="none", edgecolor="black", lw=1.4,
                   label=f"selected: {best.id}", zorder=4)
    bsf = [(i, v) for i, v in run.best_so_far() if v is not None]
    if bsf:
        ax.step([i for i, _ in bsf], [v for _, v in bsf], where="post", color=COLORS[0], lw=1.8,
                label="best so far (selection seeds: optimistic)")
    _band(ax, run.env_baseline, ENV_COLOR, "env reward")
    _band(ax, run.sparse_baseline, SPARSE_COLOR, "sparse fitness")
    lo: float | None  # the failed markers' height, then the lower end of the chosen reward's interval
    if failed and (pts or run.env_baseline.mean is not None):
        lo = min([cast(float, c.fitness) for c in pts]
                 + [v for v in (run.env_baseline.mean, run.sparse_baseline.mean) if v is not None])
        ax.scatter([c.iteration + rng.uniform(-0.12, 0.12) for c in failed], [lo] * len(failed), marker="x",
                   color="grey", s=24, label="rejected / failed", zorder=3)
    xt = list(its)
    labels = [str(i + 1) for i in its]  # iterations count from 1, as in the terminal and on the page
    est = run.chosen
    if est.values:
        xf = max(its) + 1
        for role in ROLES:
            vals = [t.fitness for t in est.trainings if t.role == role and t.fitness is not None]
            ax.scatter([xf + rng.uniform(-0.1, 0.1) for _ in vals], vals, color=ROLE_COLORS[role], s=18, alpha=0.8,
                       zorder=4, label=f"chosen reward, {ROLE_LABELS[role].replace(chr(10), ' ')}" if vals else None)
        lo, hi = est.ci
        yerr = [[est.mean - lo], [hi - est.mean]] if lo is not None and hi is not None and est.mean is not None else None
        ax.errorbar([xf + 0.25], [cast(float, est.mean)], yerr=yerr, fmt="D", color=FINAL_COLOR, capsize=5, ms=7, zorder=5,
                    label=f"chosen reward, all {est.n_trainings} trainings: {_g(est.mean or 0.0)}"
                    + (f" [{_g(cast(float, lo))}, {_g(cast(float, hi))}]" if yerr else ""))
        xt.append(xf)
        labels.append("all trainings")
    ax.set_xticks(xt, labels)
    ax.set_xlabel("iteration")
    ax.set_ylabel(_short(run.fitness_metric) or "fitness")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(f"{run.task}: task fitness")
    return to_data_uri(fig)


def _short(text, n: int = 48) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


def components_plot(cands: list[CandidateData]) -> str | None:
    """Per-component reward (mean over each logging window) of the given candidates, one panel each,
    plus the episode fitness during training."""
    cands = [c for c in cands if c.metrics]
    if not cands:
        return None
    n = len(cands)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n + 0.6, 5.2), squeeze=False, sharex="col")
    for j, c in enumerate(cands):
        ax, axf = axes[0][j], axes[1][j]
        steps = [r.get("step", i) for i, r in enumerate(c.metrics)]
        for k, name in enumerate(c.component_names):
            ys, lo, hi, xs = [], [], [], []
            for s, r in zip(steps, c.metrics, strict=True):
                st = (r.get("components") or {}).get(name)
                if isinstance(st, dict) and st.get("mean") is not None:
                    m, sd = float(st["mean"]), float(st.get("std") or 0.0)
                    xs.append(s)
                    ys.append(m)
                    lo.append(m - sd)
                    hi.append(m + sd)
            if xs:
                col = COLORS[k % len(COLORS)]
                ax.plot(xs, ys, color=col, lw=1.5, label=_short(name, 28))
                ax.fill_between(xs, lo, hi, color=col, alpha=0.12, lw=0)
        title = f"{c.id}" + (f" (verdict {_g(c.fitness)})" if c.fitness is not None else "")
        ax.set_title(title, fontsize=9)
        if j == 0:
            ax.set_ylabel("component value (mean ± std)")
        ax.legend(fontsize=7, frameon=False)
        fx = [(s, r.get("fitness")) for s, r in zip(steps, c.metrics, strict=True) if r.get("fitness") is not None]
        if fx:
            axf.plot([s for s, _ in fx], [f for _, f in fx], color="black", lw=1.4, marker=".")
        if j == 0:
            axf.set_ylabel("training fitness\n(reported by the jail)")
        axf.set_xlabel("env steps")
    fig.tight_layout()
    return to_data_uri(fig)


def seed_labels(points: list[tuple[str, float]], span: float, min_gap: float = 0.07,
                max_chars: int = 20) -> list[tuple[float, str]]:
    """One label per group of points closer than ``min_gap`` of the axis ``span`` ("seeds 1, 2, 3"), placed
    at the group's mean value, and groups pushed apart so no two labels overlap; a label longer than
    ``max_chars`` says how many seeds ("5 seeds") so it does not run into the next column."""
    pts = sorted(points, key=lambda p: p[1])
    gap = max(span, 1e-12) * min_gap
    groups: list[list[tuple[str, float]]] = []
    for p in pts:
        if groups and p[1] - groups[-1][-1][1] < gap:
            groups[-1].append(p)
        else:
            groups.append([p])
    out: list[tuple[float, str]] = []
    for g in groups:
        y = float(np.mean([v for _, v in g]))
        if out and y - out[-1][0] < gap:
            y = out[-1][0] + gap
        seeds = sorted((s for s, _ in g), key=lambda x: (not x.lstrip("-").isdigit(), int(x) if x.lstrip("-").isdigit() else 0, x))
        text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(seeds)}"
        out.append((y, text if len(text) <= max_chars else f"{len(seeds)} seeds"))
    return out


def final_plot(run: RunData) -> str | None:
    """Each seed of the final re-training and of both baselines, with mean ± std; one label per group of
    seeds with (nearly) the same value, so labels never overlap."""
    groups = [("best reward\n(re-trained)", run.final, FINAL_COLOR), ("env reward", run.env_baseline, ENV_COLOR),
              ("sparse fitness", run.sparse_baseline, SPARSE_COLOR)]
    groups = [g for g in groups if g[1].per_seed]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    every = [v for _, st, _ in groups for v in st.values]
    span = (max(every) - min(every)) if every else 1.0
    span = span if span > 1e-9 * max(1.0, abs(max(every or [0]))) else max(abs(every[0]) * 0.2, 2.0) if every else 2.0
    for x, (_label, st, color) in enumerate(groups):
        pts = [(str(s), v) for s, v in st.per_seed.items() if v is not None]
        ax.scatter([x] * len(pts), [v for _, v in pts], color=color, s=22, alpha=0.8, zorder=3)
        for y, text in seed_labels(pts, span):
            ax.annotate(text, (x, y), xytext=(7, 0), textcoords="offset points", fontsize=7, va="center",
                        color="#555")
        if st.mean is not None:
            ax.errorbar([x - 0.18], [st.mean], yerr=[st.std or 0.0], fmt="D", color=color, capsize=4, ms=6)
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.1)
    ax.set_ylabel("fitness")
    ax.set_title("final evaluation: each seed, mean ± std")
    return to_data_uri(fig)


ROLE_LABELS = {"selection": "search seeds\nthat selected it", "held_out": "held-out\nsearch seeds",
               "final": "final seeds"}
ROLE_COLORS = {"selection": "#8d99ae", "held_out": "#457b9d", "final": FINAL_COLOR}


def trainings_plot(run: RunData, est: Estimate | None = None) -> str | None:
    """Every training of the chosen reward as a dot (strip plot, one column per role), the mean of all of
    them with its bootstrap interval across the plot, and the env-reward and sparse baselines' trainings:
    a bimodal outcome shows as two clusters of dots."""
    est = est if est is not None else run.chosen
    if not est.values:
        return None
    cols = [(ROLE_LABELS[r], [t for t in est.trainings if t.role == r and t.fitness is not None], ROLE_COLORS[r])
            for r in ROLES]
    cols = [c for c in cols if c[1]]
    base = [("env reward\n(final seeds)", run.env_baseline, ENV_COLOR),
            ("sparse fitness\n(final seeds)", run.sparse_baseline, SPARSE_COLOR)]
    base = [b for b in base if b[1].values]
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    rng = random.Random(0)
    every = est.values + [v for _, st, _ in base for v in st.values]
    span = max(every) - min(every) if every else 1.0
    for x, (_label, ts, color) in enumerate(cols):
        xs = [x + rng.uniform(-0.12, 0.12) for _ in ts]
        ax.scatter(xs, [cast(float, t.fitness) for t in ts], s=42, color=color, alpha=0.85, edgecolor="white", lw=0.6, zorder=3)
        for y, text in seed_labels([(str(t.seed), float(t.fitness)) for t in ts if t.fitness is not None], span):
            ax.annotate(text, (x + 0.16, y), xytext=(4, 0), textcoords="offset points", fontsize=7, va="center",
                        color="#555")
    for k, (_label, st, color) in enumerate(base):
        x = len(cols) + k
        ax.scatter([x + rng.uniform(-0.12, 0.12) for _ in st.values], st.values, s=30, color=color, alpha=0.7,
                   marker="s", zorder=3)
    if est.mean is not None:
        lo, hi = est.ci
        if lo is not None and hi is not None:
            ax.axhspan(lo, hi, color=FINAL_COLOR, alpha=0.10, lw=0)
        ax.axhline(est.mean, color=FINAL_COLOR, lw=1.3, ls="--",
                   label=f"mean of all {est.n_trainings} trainings: {_g(est.mean)}"
                   + (f" [{_g(lo)}, {_g(hi)}] (95% bootstrap)" if lo is not None and hi is not None else ""))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False)
    labels = [c[0] for c in cols] + [b[0] for b in base]
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlim(-0.5, len(labels) - 0.3)
    ax.set_ylabel(_short(run.fitness_metric, 40) or "fitness")
    ax.set_title(_short(f"every training of the chosen reward: {est.words}", 90), fontsize=9)
    return to_data_uri(fig)


def comparison_plot(runs: list[RunData]) -> str | None:
    """Best-so-far search fitness per iteration for each run, and its final re-training at the right."""
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    last = max((max(r.iterations) if r.iterations else 0) for r in runs)
    xf = last + 1
    any_final = False
    for k, r in enumerate(runs):
        col = COLORS[k % len(COLORS)]
        bsf = [(i, v) for i, v in r.best_so_far() if v is not None]
        label = _short(f"{r.name} ({r.task}, {r.llm})", 60)
        if bsf:
            ax.plot([i for i, _ in bsf], [v for _, v in bsf], marker="o", ms=4, color=col, lw=1.6, label=label)
        if r.final.mean is not None:
            any_final = True
            ax.errorbar([xf + 0.08 * (k - len(runs) / 2)], [r.final.mean], yerr=[r.final.std or 0.0], fmt="D",
                        color=col, capsize=4, ms=6, label=None if bsf else label)
    ticks = list(range(last + 1)) + ([xf] if any_final else [])
    ax.set_xticks(ticks, [str(t + 1) for t in range(last + 1)] + (["final"] if any_final else []))
    ax.set_xlabel("iteration (best search fitness so far); final = re-training mean ± std")
    ax.set_ylabel("fitness")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(f"{runs[0].task}: runs compared" if len({r.task for r in runs}) == 1 else "runs compared")
    return to_data_uri(fig)


__all__ = ["comparison_plot", "components_plot", "final_plot", "fitness_plot", "readable", "seed_labels", "to_data_uri",
           "trainings_plot"]
