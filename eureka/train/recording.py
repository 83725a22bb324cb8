"""What makes a run resumable: every training result (here) and every LLM answer is recorded as it arrives.

``eureka resume=<run_dir>`` composes the run's own command line again and runs the search
from the start; the loop is deterministic given its answers and training results, so it
walks the same path, taking each answer from ``answers/`` (never asking the LLM again) and
each finished training from ``trainings.jsonl`` (never training it again). What was cut
short (a training in flight, a request not yet answered) simply happens now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eureka.store import append_jsonl, read_jsonl
from eureka.train.result import DoneFn, Executor, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec


def training_key(spec: TrainSpec) -> str:
    """What determines a training's result: job, mode, seed, budget, continuation, and the reward's code."""
    code = ""
    if spec.reward_path and Path(spec.reward_path).is_file():
        code = hashlib.sha256(Path(spec.reward_path).read_bytes()).hexdigest()[:16]
    return f"{spec.job_id}|{spec.mode}|{spec.seed}|{spec.total_timesteps}|{int(spec.resume)}|{code}"


class RecordingExecutor:
    """Wraps an executor: appends each result to ``trainings.jsonl``; answers recorded ones without training."""

    def __init__(self, inner: Executor, root: str | Path):
        self.inner = inner
        self.path = Path(root) / "trainings.jsonl"
        self.done = {r["key"]: TrainResult.from_dict(r["result"]) for r in read_jsonl(self.path)
                     if "key" in r and isinstance(r.get("result"), dict)}
        self.reused = 0

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        keys = {s.job_id: training_key(s) for s in specs}
        results: dict[str, TrainResult] = {}
        todo = []
        for s in specs:
            rec = self.done.get(keys[s.job_id])
            if rec is None:
                todo.append(s)
                continue
            self.reused += 1
            results[s.job_id] = rec
            if on_progress is not None:
                on_progress(s.job_id, s.total_timesteps)
            if on_done is not None:
                on_done(s.job_id, rec)

        def record(job_id: str, result: TrainResult) -> None:
            append_jsonl(self.path, {"key": keys[job_id], "result": result.to_dict(snapshots=True)})
            self.done[keys[job_id]] = result
            results[job_id] = result
            if on_done is not None:
                on_done(job_id, result)

        if todo:
            self.inner.run(todo, on_progress, record)
        return [results[s.job_id] for s in specs]

    def prefetch(self, specs: list[TrainSpec]) -> None:
        """Hand ``specs`` not recorded yet to the inner executor as spare work (``LocalExecutor.prefetch``;
        an executor without it trains them when ``run`` asks)."""
        prefetch = getattr(self.inner, "prefetch", None)
        if prefetch is not None:
            prefetch([s for s in specs if training_key(s) not in self.done])

    def shutdown(self) -> None:
        self.inner.shutdown()
