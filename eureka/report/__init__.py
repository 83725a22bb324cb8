"""Terminal output: rich progress while the loop runs, and the final table."""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from eureka.evolve.candidate import Candidate
from eureka.evolve.loop import Reporter
from eureka.train.result import TrainResult


def make_console() -> Console:
    """The run's console. When the output is not a terminal (a file, a pipe) nothing is wrapped at 80
    columns: lines are as long as they are, so code, paths and URLs stay whole (``soft_wrap``)."""
    console = Console(log_path=False)
    console.soft_wrap = not console.is_terminal
    return console


class RichReporter(Reporter):
    """Progress bars for iterations, candidates and training steps; a line per finished candidate.

    Every training's timer starts with its first progress report (not when it was queued), and the
    bars are complete when the run ends.
    """

    def __init__(self, console: Console | None = None):
        self.console = console or make_console()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=False)
        self._iter_task: TaskID | None = None
        self._iters_run = 0
        self._cand_task: TaskID | None = None
        self._jobs: dict[str, TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self._complete_iterations()
        self.progress.stop()

    def _complete_iterations(self) -> None:
        """The iteration bar at the iterations run (all of them, or 'stopped early' with the bar full)."""
        if self._iter_task is None:
            return
        total = self.progress.tasks[self._index(self._iter_task)].total or 0
        if self._iters_run < total:
            self.progress.update(self._iter_task, total=self._iters_run,
                                 description=f"iterations (stopped after {self._iters_run} of {total:g})")
        self.progress.update(self._iter_task, completed=self._iters_run)

    def log(self, text: str) -> None:
        """A timed line; outside a terminal a plain, unwrapped one."""
        if self.console.is_terminal:
            self.console.log(text)
        else:
            self.console.print(f"[{datetime.now():%H:%M:%S}] {text}", soft_wrap=True, highlight=False)

    def iteration_started(self, it: int, total: int) -> None:
        if self._iter_task is None:
            self._iter_task = self.progress.add_task("iterations", total=total)
        self.progress.update(self._iter_task, completed=it)
        self._iters_run = it + 1
        self.log(f"iteration {it + 1}/{total}: asking the designer")

    def candidates_designed(self, it: int, candidates: list[Candidate]) -> None:
        if self._cand_task is not None:
            self.progress.remove_task(self._cand_task)
        for job in list(self._jobs.values()):
            self.progress.remove_task(job)
        self._jobs.clear()
        self._cand_task = self.progress.add_task(f"iteration {it + 1} candidates", total=len(candidates))

    def training_started(self, job_id: str, total_steps: int) -> None:
        # queued: its timer starts with its first progress report (trainings wait for a free core)
        self._jobs[job_id] = self.progress.add_task(f"  train {job_id}", total=total_steps, start=False)

    def training_progress(self, job_id: str, steps: int) -> None:
        if job_id in self._jobs:
            self._start(self._jobs[job_id])
            self.progress.update(self._jobs[job_id], completed=steps)

    def _start(self, task_id: TaskID) -> None:
        if not self.progress.tasks[self._index(task_id)].started:
            self.progress.start_task(task_id)

    def _finish(self, job_id: str) -> None:
        if job_id in self._jobs:
            task = self._jobs[job_id]
            self._start(task)
            self.progress.update(task, completed=self.progress.tasks[self._index(task)].total)

    def candidate_done(self, cand: Candidate) -> None:
        self._finish(cand.id)
        if self._cand_task is not None:
            self.progress.advance(self._cand_task)
        if cand.status == "ok":
            seeds = ", ".join(map(str, cand.seed_fitness))
            self.log(f"{cand.id}: [green]ok[/] fitness {cand.fitness:.3f} (search seed{'s' if len(cand.seed_fitness) > 1 else ''} {seeds})")
        else:
            self.log(f"{cand.id}: [red]{cand.status}[/] {cand.error_class}: {cand.message[:160]}")

    @contextlib.contextmanager
    def paused(self):
        """Stop the live progress display while a terminal session talks to the user."""
        self.progress.stop()
        try:
            yield
        finally:
            self.progress.start()

    def _index(self, task_id: TaskID) -> int:
        return next(i for i, t in enumerate(self.progress.tasks) if t.id == task_id)

    def job_done(self, job_id: str, result: TrainResult) -> None:
        self._finish(job_id)
        fit = result.fitness
        status = f"fitness {fit:.3f}" if fit is not None else \
            f"{result.failure.error_class}: {result.failure.message}" if result.failure else "no fitness"
        self.log(f"{job_id}: {status}")

    def phase(self, text: str) -> None:
        self._complete_iterations()  # the only phase after the iterations is the final stage
        self.log(text)

    def message(self, text: str) -> None:
        self.log(text)


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def print_summary(summary: dict, console: Console, run_dir: str, best_code: str | None = None) -> None:
    """The final table of candidates, the best reward and the scores."""
    table = Table(title=f"eureka: {summary['task']} ({summary['llm']})")
    for col in ("candidate", "parent", "status", "error", "fitness (search seeds)", "preference"):
        table.add_column(col)
    population = set(summary.get("population", []))
    for it in summary.get("iterations", []):
        for c in it["candidates"]:
            style = "bold green" if c["id"] == summary.get("best_candidate") else None
            mark = " *" if c["id"] in population else ""
            table.add_row(c["id"] + mark, c.get("parent") or "", c["status"], c.get("error_class") or "",
                          _f(c.get("fitness")), _f(c.get("preference")), style=style)
    console.print(table)
    if population:
        console.print(f"* = in the final population (selection: {summary.get('selection', 'fitness')})")
    if best_code:
        console.print(f"Best reward ({summary.get('best_candidate')}; its fitness on every training: Result below):")
        if console.is_terminal:
            console.print(Syntax(best_code, "python", line_numbers=False, word_wrap=True))
        else:  # a file or a pipe: the code as it is, no wrapping, no padding
            console.print(Text(best_code.rstrip("\n")), soft_wrap=True)
    for line in result_lines(summary):
        console.print(line, soft_wrap=True, highlight=False)
    if summary.get("message"):
        console.print(summary["message"])
    usage = summary.get("llm_usage", {})
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    line = ""  # a designer that uses no tokens (offline, replay) gets no token line
    if tokens:
        cost = f", ${usage['usd']:.4f}" if usage.get("usd") else ""
        line = (f"LLM: {usage.get('requests', 0)} requests, {usage.get('prompt_tokens', 0)} prompt + "
                f"{usage.get('completion_tokens', 0)} completion tokens{cost}. ")
    console.print(f"{line}Wall time {summary['wall_time_s']:.0f} s.", soft_wrap=True)
    console.print(f"Run directory: {run_dir}", soft_wrap=True)


def _pm(values: list[float]) -> str:
    if not values:
        return "-"
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return f"{mean:.3f} +- {std:.3f}"


ROLE_WORDS = {"selection": "search seeds that selected it (optimistic: they chose it)",
              "held_out": "held-out search seeds", "final": "final seeds"}


def chosen_from_parts(summary: dict) -> dict:
    """``chosen_reward`` for a summary written before it existed: from the selection seeds, the held-out
    seeds and the final seeds it records."""
    from eureka.analyze.estimate import Training, estimate

    def seeds(d: object) -> list[tuple[int, float | None]]:
        out = []
        for k, v in (d.items() if isinstance(d, dict) else []):
            try:
                out.append((int(k), float(v) if isinstance(v, (int, float)) else None))
            except ValueError:
                continue
        return out

    conf = summary.get("best_confirmed") or {}
    held = conf.get("per_seed") or dict(zip(conf.get("seeds") or [], conf.get("values") or [], strict=False))
    if not held and conf.get("mean") is not None:
        held = {str(s): None for s in conf.get("seeds") or []}
    ts = ([Training(s, "selection", v) for s, v in seeds(summary.get("best_search_seeds"))]
          + [Training(s, "held_out", v) for s, v in seeds(held)]
          + [Training(s, "final", v) for s, v in seeds((summary.get("final_eval") or {}).get("per_seed"))])
    return estimate(ts).to_dict() if ts else {}


def result_lines(summary: dict) -> list[str]:
    """The result as the terminal shows it: the chosen reward's one estimate over all its trainings (each
    role's mean beside it), every baseline with its spread, and the verdict against the env reward."""
    from eureka.analyze.estimate import Training, estimate

    lines: list[str] = []
    chosen = summary.get("chosen_reward") or chosen_from_parts(summary)
    values = [v for v in chosen.get("values") or [] if isinstance(v, dict)]
    est = estimate([Training(int(v.get("seed") or 0), str(v.get("role")), v.get("fitness")) for v in values
                      if isinstance(v.get("fitness"), (int, float)) or v.get("fitness") is None])
    if chosen.get("mean") is not None:
        lo, hi = (chosen.get("ci") or [None, None])[:2]
        ci = f" [{_f(lo)}, {_f(hi)}]" if lo is not None and hi is not None else ""
        lines.append(f"[bold]Result: chosen reward {summary.get('best_candidate')}: {_f(chosen['mean'])}{ci}[/] "
                     f"(mean of all {chosen.get('n_trainings')} trainings, 95% bootstrap interval of the mean)")
        roles = []
        for role, words in ROLE_WORDS.items():
            mine = [v for v in values if v.get("role") == role]
            vals = [float(v["fitness"]) for v in mine if v.get("fitness") is not None]
            if mine:
                roles.append(f"{words} {', '.join(str(v.get('seed')) for v in mine)}: {_pm(vals)}")
        lines.append("  by role: " + "; ".join(roles))
        if est.words:
            lines.append(f"  outcome: {est.words}" + (" (bimodal: read the mean with care)" if est.bimodal else ""))
    elif (fe := summary.get("final_eval") or {}).get("mean") is not None:  # a summary from before chosen_reward
        lines.append(f"[bold]Result: final re-training {_f(fe['mean'])} +- {_f(fe.get('std'))}[/] (mean +- std "
                     f"over seeds {', '.join(str(s) for s in fe.get('seeds') or list(fe.get('per_seed') or {}))})")
    bl = summary.get("baselines") or {}
    base = []
    for key, name in (("env_reward", "env reward"), ("sparse", "sparse fitness")):
        st = bl.get(key) or {}
        per = [float(v) for v in (st.get("per_seed") or {}).values() if v is not None]
        if per:
            base.append(f"{name} {_pm(per)} (seeds {', '.join(map(str, st.get('seeds') or []))})")
    if base:
        hns = summary.get("human_normalized_score")
        hns = hns.get("value") if isinstance(hns, dict) else hns
        lines.append(f"Baselines (mean +- std over seeds): {'; '.join(base)}; human-normalized score {_f(hns)}")
    vs = summary.get("verdict_vs_env_detail") or {}
    if summary.get("verdict_vs_env"):
        lo, hi = (vs.get("ci") or [None, None])[:2]
        lines.append(f"[bold]Verdict against the env reward: {str(summary['verdict_vs_env']).upper()}[/] "
                     f"(P(chosen > env reward) = {_f(vs.get('p_improvement'))} [{_f(lo)}, {_f(hi)}] over "
                     f"{vs.get('n_chosen')} x {vs.get('n_env')} final trainings; {vs.get('why')})")
    elif chosen.get("mean") is not None and vs.get("why"):
        lines.append(f"No verdict against the env reward: {vs['why']}")
    note = summary.get("human_normalized_score_note") or summary.get("hns_note")
    if note:
        lines.append(f"[yellow]note:[/] {note}")
    return lines


def write_report(run_dir: str | Path, **kwargs) -> Path:
    """Write ``<run_dir>/report.html`` (and ``tb_run/`` scalars); see :mod:`eureka.report.html`."""
    from eureka.report.html import write_report as _write

    return _write(run_dir, **kwargs)


def report_after_run(run_dir: str | Path, console: Console | None = None) -> Path | None:
    """``write_report`` for the end of a run: any failure (even Ctrl-C) is one line, never the run's failure."""
    root = Path(run_dir)
    if not any((root / f).exists() for f in ("summary.json", "events.jsonl")):
        return None  # the run stopped before it started (a config error): nothing to report
    exc = sys.exc_info()[1]  # called from a ``finally``: the SystemExit on its way out, if any
    hint = None
    if isinstance(exc, KeyboardInterrupt) or (isinstance(exc, SystemExit) and exc.code == 130):
        hint = "interrupted"
    elif isinstance(exc, SystemExit) and exc.code == 143:
        hint = "terminated"
    elif isinstance(exc, SystemExit) and exc.code not in (0, None):
        hint = "stopped"
    try:
        path = write_report(root, status_hint=hint)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001
        if console is not None:
            console.print(f"[yellow]no report.html:[/] {type(exc).__name__}: {exc}", soft_wrap=True)
        return None
    if console is not None:
        console.print(f"Report: {path}", soft_wrap=True)
    return path


__all__ = ["RichReporter", "make_console", "print_summary", "report_after_run", "result_lines", "write_report"]
