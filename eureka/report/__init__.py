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
from eureka.evolve.summary import Summary
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


def _record(summary: Summary | dict) -> Summary:
    """The run's typed record (``summary.json``'s dict is read into it)."""
    return summary if isinstance(summary, Summary) else Summary.from_dict(summary)


def print_summary(summary: Summary | dict, console: Console, run_dir: str, best_code: str | None = None) -> None:
    """The final table of candidates, the best reward and the scores (``summary``: the run's record, or
    ``summary.json`` as a dict)."""
    s = _record(summary)
    best_id = s.best.id if s.best is not None else None
    table = Table(title=f"eureka: {s.task} ({s.llm})")
    for col in ("candidate", "parent", "status", "error", "fitness (search seeds)", "preference"):
        table.add_column(col)
    population = set(s.population)
    for c in sorted(s.candidates, key=lambda c: c.iteration):  # by iteration, as summary.json lists them
        style = "bold green" if c.id == best_id else None
        mark = " *" if c.id in population else ""
        table.add_row(c.id + mark, c.parent or "", str(c.status), c.error_class or "", _f(c.fitness),
                      _f(c.preference), style=style)
    console.print(table)
    if population:
        console.print(f"* = in the final population (selection: {s.selection})")
    if best_code:
        console.print(f"Best reward ({best_id}; its fitness on every training: Result below):")
        if console.is_terminal:
            console.print(Syntax(best_code, "python", line_numbers=False, word_wrap=True))
        else:  # a file or a pipe: the code as it is, no wrapping, no padding
            console.print(Text(best_code.rstrip("\n")), soft_wrap=True)
    for line in result_lines(s):
        console.print(line, soft_wrap=True, highlight=False)
    if s.message:
        console.print(s.message)
    usage = s.llm_usage
    line = ""  # a designer that uses no tokens (offline, replay) gets no token line
    if usage.total_tokens:
        cost = f", ${usage.usd:.4f}" if usage.usd else ""
        line = (f"LLM: {usage.requests} requests, {usage.prompt_tokens} prompt + "
                f"{usage.completion_tokens} completion tokens{cost}. ")
    # the wall time as summary.json holds it (to 0.01 s)
    console.print(f"{line}Wall time {round(s.wall_time_s, 2):.0f} s.", soft_wrap=True)
    console.print(f"Run directory: {run_dir}", soft_wrap=True)


def _pm(values: list[float]) -> str:
    if not values:
        return "-"
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return f"{mean:.3f} +- {std:.3f}"


ROLE_WORDS = {"selection": "search seeds that selected it (optimistic: they chose it)",
              "held_out": "held-out search seeds", "final": "final seeds"}


def result_lines(summary: Summary | dict) -> list[str]:
    """The result as the terminal shows it: the chosen reward's one estimate over all its trainings (each
    role's mean beside it), every baseline with its spread, and the verdict against the env reward
    (``summary``: the run's record, or ``summary.json`` as a dict)."""
    s = _record(summary)
    fig = s.figures()
    est, final = fig.chosen, s.final
    lines: list[str] = []
    if est is not None and est.mean is not None:
        lo, hi = est.ci
        ci = f" [{_f(lo)}, {_f(hi)}]" if lo is not None and hi is not None else ""
        lines.append(f"[bold]Result: chosen reward {s.best.id if s.best else None}: {_f(est.mean)}{ci}[/] "
                     f"(mean of all {est.n_trainings} trainings, 95% bootstrap interval of the mean)")
        roles = []
        for role, words in ROLE_WORDS.items():
            mine = [t for t in est.trainings if t.role == role]
            if mine:
                vals = [t.fitness for t in mine if t.fitness is not None]
                roles.append(f"{words} {', '.join(str(t.seed) for t in mine)}: {_pm(vals)}")
        lines.append("  by role: " + "; ".join(roles))
        if est.words:
            lines.append(f"  outcome: {est.words}" + (" (bimodal: read the mean with care)" if est.bimodal else ""))
    elif final is not None and final.best.mean is not None:  # a summary from before chosen_reward
        seeds = s.final_seeds or final.best.seeds
        lines.append(f"[bold]Result: final re-training {_f(final.best.mean)} +- {_f(final.best.std)}[/] (mean +- std "
                     f"over seeds {', '.join(str(x) for x in seeds)})")
    base = []
    for st, name in ((final.env_reward, "env reward"), (final.sparse, "sparse fitness")) if final else ():
        if st is not None and st.values:
            base.append(f"{name} {_pm(st.values)} (seeds {', '.join(map(str, st.seeds))})")
    if base:
        lines.append(f"Baselines (mean +- std over seeds): {'; '.join(base)}; human-normalized score "
                     f"{_f(fig.human_normalized_score)}")
    vs = fig.verdict
    if vs.verdict:
        lo, hi = vs.ci
        lines.append(f"[bold]Verdict against the env reward: {vs.verdict.upper()}[/] "
                     f"(P(chosen > env reward) = {_f(vs.p)} [{_f(lo)}, {_f(hi)}] over "
                     f"{vs.n_chosen} x {vs.n_env} final trainings; {vs.why})")
    elif est is not None and est.mean is not None and vs.why:
        lines.append(f"No verdict against the env reward: {vs.why}")
    if fig.note:
        lines.append(f"[yellow]note:[/] {fig.note}")
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
