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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from eureka.report.rundata import CandidateData, RunData, SeedStats  # noqa: E402

plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "eureka-report", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
                     "grid.alpha": 0.3, "figure.dpi": 100})

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
ENV_COLOR, SPARSE_COLOR, FINAL_COLOR = "#2a9d8f", "#9c6ade", "#d62828"


def to_data_uri(fig) -> str:
    """The figure as ``data:image/svg+xml;base64,...`` (and close it)."""
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
    ax.scatter([c.iteration + rng.uniform(-0.12, 0.12) for c in pts], [c.fitness for c in pts], s=22,
               color=COLORS[0], alpha=0.75, label="candidate (search, 1 seed)", zorder=3)
    best = run.best
    if best is not None and best.fitness is not None:
        ax.scatter([best.iteration], [best.fitness], s=90, facecolor="none", edgecolor="black", lw=1.4,
                   label=f"selected: {best.id}", zorder=4)
    bsf = [(i, v) for i, v in run.best_so_far() if v is not None]
    if bsf:
        ax.step([i for i, _ in bsf], [v for _, v in bsf], where="post", color=COLORS[0], lw=1.8,
                label="best so far")
    _band(ax, run.env_baseline, ENV_COLOR, "env reward")
    _band(ax, run.sparse_baseline, SPARSE_COLOR, "sparse fitness")
    if failed and (pts or run.env_baseline.mean is not None):
        lo = min([c.fitness for c in pts] + [v for v in (run.env_baseline.mean, run.sparse_baseline.mean)
                                              if v is not None])
        ax.scatter([c.iteration + rng.uniform(-0.12, 0.12) for c in failed], [lo] * len(failed), marker="x",
                   color="grey", s=24, label="rejected / failed", zorder=3)
    xt = list(its)
    labels = [str(i) for i in its]
    if run.final.values:
        xf = max(its) + 1
        vals = run.final.values
        ax.scatter([xf + rng.uniform(-0.08, 0.08) for _ in vals], vals, color=FINAL_COLOR, s=16, alpha=0.7,
                   zorder=4)
        ax.errorbar([xf], [run.final.mean], yerr=[run.final.std or 0.0], fmt="D", color=FINAL_COLOR,
                    capsize=5, ms=7, zorder=5,
                    label=f"final re-training: {_g(run.final.mean)} ± {_g(run.final.std or 0.0)}")
        xt.append(xf)
        labels.append("final")
    ax.set_xticks(xt, labels)
    ax.set_xlabel("iteration")
    ax.set_ylabel(_short(run.summary.get("fitness_metric")) or "fitness")
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


def final_plot(run: RunData) -> str | None:
    """Each seed of the final re-training and of both baselines, with mean ± std."""
    groups = [("best reward\n(re-trained)", run.final, FINAL_COLOR), ("env reward", run.env_baseline, ENV_COLOR),
              ("sparse fitness", run.sparse_baseline, SPARSE_COLOR)]
    groups = [g for g in groups if g[1].per_seed]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for x, (_label, st, color) in enumerate(groups):
        for s, v in st.per_seed.items():
            if v is None:
                continue
            ax.scatter([x], [v], color=color, s=22, alpha=0.8, zorder=3)
            ax.annotate(f"seed {s}", (x, v), xytext=(6, 0), textcoords="offset points", fontsize=7,
                        va="center", color="#555")
        if st.mean is not None:
            ax.errorbar([x - 0.18], [st.mean], yerr=[st.std or 0.0], fmt="D", color=color, capsize=4, ms=6)
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.3)
    ax.set_ylabel("fitness")
    ax.set_title("final evaluation: each seed, mean ± std")
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
    ax.set_xticks(ticks, [str(t) for t in range(last + 1)] + (["final"] if any_final else []))
    ax.set_xlabel("iteration (best search fitness so far); final = re-training mean ± std")
    ax.set_ylabel("fitness")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(f"{runs[0].task}: runs compared" if len({r.task for r in runs}) == 1 else "runs compared")
    return to_data_uri(fig)


__all__ = ["comparison_plot", "components_plot", "final_plot", "fitness_plot", "to_data_uri"]
