"""Post-hoc TensorBoard scalars of the whole search, in ``<run_dir>/tb_run/``.

SB3 already writes ``train/`` and ``reward/<component>`` (and ``fitness/train``) per training into each
candidate's ``tb/``; this adds what only exists at the level of the run, from ``summary.json`` and
``events.jsonl``: ``fitness/`` per iteration and the final evaluation, and ``llm/`` usage. The directory
is rewritten from scratch each time, so calling it again (a running run) never duplicates points.
``tensorboard --logdir <run_dir>`` shows both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from eureka.report.rundata import RunData

TB_DIR = "tb_run"


def scalars(run: RunData) -> list[tuple[str, float, int, float | None]]:
    """(tag, value, step, wall time) of every run-level scalar."""
    out: list[tuple[str, float, int, float | None]] = []
    times: dict[str, float] = {}
    for ev in run.events:
        if ev.get("event") == "trained" and ev.get("id") and ev.get("time") is not None:
            times[str(ev["id"])] = float(ev["time"])
    best: float | None = None
    for it in run.iterations:
        cands = [c for c in run.candidates if c.iteration == it]
        fits = [c.fitness for c in cands if c.fitness is not None]
        wall = max((times[c.id] for c in cands if c.id in times), default=None)
        if fits:
            best = max(fits) if best is None else max(best, max(fits))
            out += [("fitness/iteration_best", max(fits), it, wall),
                    ("fitness/iteration_mean", sum(fits) / len(fits), it, wall)]
        if best is not None:
            out.append(("fitness/best_so_far", best, it, wall))
        if cands:
            bad = [c for c in cands if c.status in ("rejected", "failed")]
            out.append(("fitness/failed_fraction", len(bad) / len(cands), it, wall))
    last = run.iterations[-1] if run.iterations else 0
    for tag, st in (("final", run.final), ("confirmed", run.confirmed), ("env_reward_baseline", run.env_baseline),
                    ("sparse_baseline", run.sparse_baseline)):
        if st.mean is not None:
            out.append((f"fitness/{tag}_mean", st.mean, last, None))
            out.append((f"fitness/{tag}_std", st.std or 0.0, last, None))
    if run.human_normalized_score is not None:
        out.append(("fitness/human_normalized_score", run.human_normalized_score, last, None))
    # llm/: cumulative tokens and requests per iteration, from the "designed" events
    per_it: dict[int, list[dict]] = {}
    it_of = {c.id: c.iteration for c in run.candidates}
    for ev in run.events:
        if ev.get("event") == "designed" and ev.get("id") in it_of:
            per_it.setdefault(it_of[ev["id"]], []).append(ev)
    prompt = completion = 0
    for it in sorted(per_it):
        evs = per_it[it]
        prompt += sum(int(e.get("prompt_tokens") or 0) for e in evs)
        completion += sum(int(e.get("completion_tokens") or 0) for e in evs)
        wall = max(float(e.get("time") or 0) for e in evs) or None
        out += [("llm/prompt_tokens", prompt, it, wall), ("llm/completion_tokens", completion, it, wall),
                ("llm/candidates", len(evs), it, wall)]
    u = run.llm_usage
    totals: list[tuple[str, float]] = [("prompt_tokens", u.prompt_tokens), ("completion_tokens", u.completion_tokens)]
    if run.summary is not None:  # the usage record (without a summary only the events' tokens are known)
        totals = [("requests", u.requests), *totals, ("total_tokens", u.total_tokens), ("usd", u.usd)]
    out += [(f"llm/total_{key}", float(value), last, None) for key, value in totals]
    return out


def write_scalars(run: RunData) -> Path | None:
    """Rewrite ``<run_dir>/tb_run/`` with the run-level scalars; None when there is nothing to write."""
    rows = scalars(run)
    if not rows:
        return None
    from torch.utils.tensorboard import SummaryWriter

    out = run.path / TB_DIR
    shutil.rmtree(out, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(out))
    try:
        for tag, value, step, wall in rows:
            writer.add_scalar(tag, float(value), global_step=int(step), walltime=wall)
    finally:
        writer.close()
    return out


__all__ = ["TB_DIR", "scalars", "write_scalars"]
