"""One comparison across the runs of a sweep (``eureka -m seed=0,1,2``): IQM and bootstrap intervals over runs.

Runs are grouped by their command line without the seed and without what every run shares
(``-m task=a,b seed=0,1,2`` gives one group per task, three runs each; ``-m seed=0,1,2`` one group). Per group and metric: the interquartile mean (IQM, the mean of
the middle 50% of runs, as in rliable) with a 95% percentile bootstrap interval over runs; the
aggregate over groups (when there are several) uses the stratified bootstrap of rliable
(Agarwal et al., 2021): runs are resampled within each group. Implemented here with numpy
(rliable itself pulls in arch, pandas, seaborn and scipy for these few lines).

Metrics per run (from ``summary.json``): ``final`` (the final re-training's mean fitness over its
seeds), ``search`` (the best search fitness) and ``hns`` (the human-normalized score).

At the end of a Hydra multirun, ``SweepReport`` (``eureka/report/callback.py``, a Hydra callback listed in
``conf/config.yaml``) writes ``sweep.json``, ``sweep.md`` and ``comparison.html`` into the sweep directory and prints the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eureka.evolve.summary import load_summary

METRICS = {"final": "final re-training fitness (mean over final seeds)", "search": "best search fitness",
           "hns": "human-normalized score"}


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's trimming: 25% cut on each side, fractional)."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    weights = np.clip(np.minimum(np.arange(1, n + 1), hi) - np.maximum(np.arange(n), lo), 0, 1)
    return float(np.sum(weights * x) / np.sum(weights))


def stratified_bootstrap(groups: list[np.ndarray], stat, reps: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``stat`` over the concatenated groups, resampling runs within each group."""
    rng = np.random.default_rng(seed)
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not groups:
        return float("nan"), float("nan")
    draws = np.empty(reps)
    for r in range(reps):
        draws[r] = stat(np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups]))
    a = (1 - level) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


@dataclass
class RunRow:
    """One run of the sweep: where, its group, its seed and its metrics."""

    path: Path
    group: str
    seed: int | None
    status: str
    metrics: dict[str, float | None] = field(default_factory=dict)


def _overrides(run: Path) -> list[str]:
    import yaml

    f = run / ".hydra" / "overrides.yaml"
    try:
        return [str(o) for o in (yaml.safe_load(f.read_text()) or [])] if f.is_file() else []
    except (OSError, ValueError, yaml.YAMLError):
        return []


def load_row(run: Path) -> RunRow:
    """The metrics of one run from its ``summary.json`` (read into the typed record)."""
    s = load_summary(run)
    over = [o for o in _overrides(run) if not o.split("=", 1)[0].lstrip("+~").startswith(("seed", "hydra"))]
    group = "\n".join(sorted(over))
    if s is None:
        return RunRow(run, group, None, "missing", {"final": None, "search": None, "hns": None})
    fig = s.figures()
    return RunRow(run, group, s.search_seed, s.status,
                  {"final": s.final.best.mean if s.final else None, "search": fig.best_fitness,
                   "hns": fig.human_normalized_score})


def compare(runs: list[Path], reps: int = 2000) -> dict:
    """Per group and metric: n, IQM, mean, 95% bootstrap interval of the IQM; and the aggregate over groups."""
    rows = [load_row(Path(r)) for r in runs]
    common = set.intersection(*(set(r.group.split("\n")) for r in rows)) if rows else set()
    for r in rows:  # a group is named by what its runs do not share with every other run (seed aside)
        r.group = " ".join(o for o in r.group.split("\n") if o and o not in common) or "all runs"
    groups: dict[str, list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    out: dict = {"runs": [{"path": str(r.path), "group": r.group, "seed": r.seed, "status": r.status, **r.metrics}
                          for r in rows], "groups": {}, "aggregate": {}, "statistic": "IQM, 95% percentile "
                 "bootstrap interval over runs (stratified by group for the aggregate), " f"{reps} resamples"}
    for name, members in groups.items():
        out["groups"][name] = {}
        for m in METRICS:
            vals = np.array([r.metrics[m] for r in members if r.metrics[m] is not None])
            if len(vals):
                ci = stratified_bootstrap([vals], iqm, reps)
                out["groups"][name][m] = {"n": int(len(vals)), "iqm": iqm(vals), "mean": float(vals.mean()),
                                          "ci": list(ci), "seeds": [r.seed for r in members
                                                                    if r.metrics[m] is not None]}
    if len(groups) > 1:
        for m in METRICS:
            per = [np.array([r.metrics[m] for r in g if r.metrics[m] is not None]) for g in groups.values()]
            per = [p for p in per if len(p)]
            if per:
                allv = np.concatenate(per)
                out["aggregate"][m] = {"n": int(len(allv)), "iqm": iqm(allv), "mean": float(allv.mean()),
                                       "ci": list(stratified_bootstrap(per, iqm, reps))}
    return out


def table(result: dict) -> str:
    """The comparison as a Markdown table."""
    from eureka.report.rundata import fmt

    lines = ["| group | metric | runs | IQM | 95% CI | mean |", "|---|---|---|---|---|---|"]
    for name, metrics in list(result["groups"].items()) + ([("all groups (stratified)", result["aggregate"])]
                                                           if result["aggregate"] else []):
        for m, st in metrics.items():
            lines.append(f"| {name} | {m} | {st['n']} | {fmt(st['iqm'])} | [{fmt(st['ci'][0])}, {fmt(st['ci'][1])}] "
                         f"| {fmt(st['mean'])} |")
    return "\n".join(lines) + f"\n\n{result['statistic']}; metrics: " + \
        "; ".join(f"{k} = {v}" for k, v in METRICS.items()) + "\n"


def write_sweep_report(sweep_dir: str | Path, runs: list[Path] | None = None) -> tuple[Path, str]:
    """Write ``sweep.json`` and ``sweep.md`` into ``sweep_dir``; return the Markdown path and the table."""
    from eureka.report.rundata import find_runs

    sweep_dir = Path(sweep_dir)
    runs = runs if runs is not None else find_runs([sweep_dir])
    result = compare(runs)
    (sweep_dir / "sweep.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = table(result)
    md = sweep_dir / "sweep.md"
    md.write_text(f"# Sweep {sweep_dir.name}: {len(runs)} run(s)\n\n{text}")
    return md, text
