"""``eureka-show <run_dir>``: a terminal summary (rich) of a finished or running run; ``--watch`` refreshes it.

    eureka-show outputs/cartpole/2026-11-25_10-00-00
    eureka-show outputs/cartpole/2026-11-25_10-00-00 --watch      # until the run ends (or Ctrl-C)
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from eureka.evolve.seedstats import SeedStats
from eureka.report.rundata import RunData, ago, fmt, load_run

STATUS_STYLE = {"completed": "green", "running": "cyan", "starting": "cyan", "stopped": "red",
                "all_failed": "red", "interrupted": "yellow", "terminated": "yellow"}


def _pm(st: SeedStats) -> str:
    return "-" if st.mean is None else f"{fmt(st.mean, 4)} +- {fmt(st.std or 0.0)}"


def _events_tail(run: RunData, n: int) -> list[str]:
    out = []
    for ev in run.events[-n:]:
        kind = ev.get("event", "?")
        rest = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in ev.items()
                        if k not in ("time", "event", "population", "path") and v not in (None, ""))
        stamp = time.strftime("%H:%M:%S", time.localtime(ev["time"])) if ev.get("time") else "--:--:--"
        out.append(f"{stamp} {kind} {rest}"[:160])
    return out


def render(run: RunData, events: int = 6):
    """The rich renderable of one run."""
    status = run.status
    style = STATUS_STYLE.get(status, "white")
    title = Text.assemble(("eureka: ", "bold"), (run.task, "bold"), "  ", (status, f"bold {style}"),
                          f"  designer {run.llm}" + (f" ({run.model})" if run.model else ""))
    lines = [Text(str(run.path), style="dim")]
    if not run.finished:
        lines.append(Text(f"last activity {ago(run.last_activity)}", style="dim"))
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    est = run.chosen
    if est.mean is not None:
        lo, hi = est.ci
        ci = f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else ""
        head.add_row("Chosen reward, all trainings", Text(f"{fmt(est.mean)}{ci}  mean of {est.n_trainings} "
                                                          f"(95% bootstrap); {est.words}", style="bold red"))
    vs = run.verdict
    head.add_row("Verdict vs env reward", vs.line() if vs.verdict else f"- ({vs.why})")
    if run.final.mean is not None:
        head.add_row("Final re-training", Text(f"{_pm(run.final)}  over seeds {', '.join(map(str, run.final.seeds))}"))
    else:
        head.add_row("Final re-training", "pending" if not run.finished else "not run")
    best = run.best
    head.add_row("Search fitness of selected",
                 f"{fmt(run.best_search_fitness)} ({best.id if best else '-'}; {run.search_basis})")
    head.add_row("Env reward baseline", _pm(run.env_baseline))
    head.add_row("Sparse fitness baseline", _pm(run.sparse_baseline))
    head.add_row("Human-normalized score", fmt(run.human_normalized_score)
                 + (f"  [yellow]({run.hns_note})[/]" if run.hns_note else ""))
    ss = run.search_seed
    reused = ss is not None and str(ss) in run.final_seeds
    all_ss = [str(s) for s in run.search_seeds]
    held = [str(s) for s in run.confirmed.seeds]
    head.add_row("Seeds", f"search {', '.join(all_ss) if all_ss else (ss if ss is not None else '?')}"
                          + (f" (held out to confirm the best: {', '.join(held)})" if held else "") + "; final + baselines "
                          f"{', '.join(run.final_seeds) or '-'}"
                 + (f"  [yellow](seed {ss} repeats the search run: not independent)[/]" if reused else ""))
    usage = run.llm_usage
    requests = usage.requests if run.summary is not None else "-"  # without a summary: the events' tokens only
    head.add_row("LLM", f"{requests} requests, {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
    head.add_row("Wall time / env steps", f"{fmt(round(run.wall_time_s) if run.wall_time_s else None)} s / "
                                          f"{run.total_env_steps or 0:,} steps")

    table = Table(title="candidates", expand=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("candidate", "left"), ("status", "left"), ("error", "left"), ("fitness", "right"), ("parent", "left"),
        ("preference", "right"), ("steps", "right"))
    for col, just in columns:
        table.add_column(col, justify=just)
    population = set(run.population)
    for c in run.candidates:
        st = {"ok": "green", "rejected": "red", "failed": "red"}.get(str(c.status), "cyan")
        table.add_row(c.id + (" *" if c.id in population else ""), f"[{st}]{c.status}[/]", c.error_class or "",
                      fmt(c.fitness), c.parent or "", fmt(c.preference), fmt(c.steps or None),
                      style="bold green" if best is not None and c.id == best.id else None)
    parts: list[RenderableType] = [*lines, head, table]
    if run.message:
        parts.append(Text(run.message, style="yellow"))
    tail = _events_tail(run, events)
    if tail:
        parts.append(Text("recent events:\n" + "\n".join(tail), style="dim"))
    return Panel(Group(*parts), title=title, title_align="left")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eureka-show", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory")
    parser.add_argument("--watch", action="store_true", help="refresh until the run ends (Ctrl-C to leave)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (--watch)")
    parser.add_argument("--events", type=int, default=6, help="recent events to show")
    args = parser.parse_args(argv)
    console = Console()
    try:
        run = load_run(args.run)
    except FileNotFoundError as exc:
        console.print(f"[red]eureka-show: error:[/] {exc}")
        return 2
    if not args.watch:
        console.print(render(run, args.events))
        return 0
    from rich.live import Live

    try:
        with Live(render(run, args.events), console=console, refresh_per_second=4, screen=False) as live:
            while not run.finished:
                time.sleep(args.interval)
                run = load_run(args.run)
                live.update(render(run, args.events))
    except KeyboardInterrupt:
        pass
    return 0


def entry() -> None:
    """Console entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
