"""Search quality: the reward search on tasks x seeds, against the env-reward and sparse baselines.

    python benchmarks/search_quality.py                                      # 7 tasks x 3 seeds x 5 final seeds
    python benchmarks/search_quality.py --tasks cartpole,pendulum,mountain_car,acrobot --seeds 0
    python benchmarks/search_quality.py --llm openai -- llm.model=gpt-4o-mini   # any llm config + overrides
    python benchmarks/search_quality.py --tasks cartpole --seeds 0 -- trainer.total_timesteps=4000  # tiny

Each (task, seed) is one ordinary ``eureka`` run (a child process, exactly as on the command line) in
``<out>/<task>/<llm>/seed<k>/``: the search with ``seed=k``, then the final re-training of the best reward
and both baselines (the env's own reward, and the task fitness paid as a sparse reward), all with the same
budget (``trainer.total_timesteps``) and the same final seeds. The final seeds never include a search seed
(they are ``1000 + 10 k + j``), so no re-training repeats the selected search run. A run directory whose
``summary.json`` says ``completed`` is skipped: kill the benchmark and start it again, it goes on where it
stopped (an unfinished run is resumed with ``eureka resume=<run_dir>``, which trains nothing twice; a run completed
before the loop confirmed its best on held-out seeds is resumed too, which adds just that).

The search's reported best is its best reward's mean over held-out search seeds (``loop.confirm``: seeds that
played no part in choosing it); beside it, the mean over the seeds that chose it, which selection makes
optimistic. "Final within 20%" compares the final re-training with the former.

The designer only ever sees the task description and the state-variable table (plus its own earlier
candidates and their statistics); the env's reward code is a baseline, never a hint.

Statistics (``eureka.analyze.stats``, rliable's definitions in numpy: rliable 1.2 pins ``arch==5.3.0``,
which brings pandas, statsmodels and scipy): per task the IQM of the final re-trainings with a 95% bootstrap
interval (two-level: search runs, then final seeds within them), the probability of improvement of the
searched reward over the env's own reward (``P(final > env)``, with its interval), and whether the env
reward and the sparse fitness differ significantly at the task's budget (the interval of ``P(env > sparse)``
excludes 0.5); where they do not, that budget cannot judge rewards. Beside them: mean ± std.

Tasks: the four classic-control tasks, hopper and half_cheetah, and Reacher-v5 from a task file
(``benchmarks/tasks/reacher.py``, as a user would add it). Trainer settings come from the task's config
(``conf/task/<task>.yaml``); where rl-zoo3 2.9.2 ships tuned PPO settings (``rl_zoo3/hyperparams/ppo.yml``)
they are used (see ``ZOO``), so the env-reward baseline is a fair, strong opponent.

Writes ``<out>/search_quality.md`` and ``<out>/search_quality.html`` and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import html
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eureka.analyze.stats import bootstrap_ci, iqm, probability_of_improvement  # noqa: E402
from eureka.evolve.seedstats import SeedStats  # noqa: E402
from eureka.report.rundata import RunData, load_run  # noqa: E402

CLASSIC = ["cartpole", "pendulum", "mountain_car", "acrobot"]
ALL = [*CLASSIC, "hopper", "half_cheetah", "reacher"]
TASK_ARGS = {"reacher": str(ROOT / "benchmarks" / "tasks" / "reacher.py")}  # tasks given by their file

# rl-zoo3 2.9.2, rl_zoo3/hyperparams/ppo.yml: the entries CartPole-v1, Pendulum-v1, MountainCarContinuous-v0
# and Acrobot-v1 are already conf/task/{cartpole,pendulum,mountain_car,acrobot}.yaml (every key but the budget
# n_timesteps). Hopper-v4 and HalfCheetah-v4 (the v5 envs have the same dynamics) are applied here over
# conf/task/{hopper,half_cheetah}.yaml, and Reacher-v2 over the task file's trainer defaults (v2 and v5 share the
# model; the entry keeps SB3's default 64x64 tanh networks).
_ZOO_MUJOCO = ["trainer.backend=sb3", "++trainer.normalize=true", "++trainer.n_envs=1", "++trainer.ppo.n_steps=512",
               "++trainer.ppo.policy_kwargs.log_std_init=-2", "++trainer.ppo.policy_kwargs.ortho_init=false",
               "++trainer.ppo.policy_kwargs.activation_fn=relu",
               "++trainer.ppo.policy_kwargs.net_arch.pi=[256,256]", "++trainer.ppo.policy_kwargs.net_arch.vf=[256,256]"]
ZOO = {
    "hopper": [*_ZOO_MUJOCO, "++trainer.ppo.batch_size=32", "++trainer.ppo.gamma=0.999",
               "++trainer.ppo.learning_rate=9.80828e-05", "++trainer.ppo.ent_coef=0.00229519",
               "++trainer.ppo.clip_range=0.2", "++trainer.ppo.n_epochs=5", "++trainer.ppo.gae_lambda=0.99",
               "++trainer.ppo.max_grad_norm=0.7", "++trainer.ppo.vf_coef=0.835671"],
    "half_cheetah": [*_ZOO_MUJOCO, "++trainer.ppo.batch_size=64", "++trainer.ppo.gamma=0.98",
                     "++trainer.ppo.learning_rate=2.0633e-05", "++trainer.ppo.ent_coef=0.000401762",
                     "++trainer.ppo.clip_range=0.1", "++trainer.ppo.n_epochs=20", "++trainer.ppo.gae_lambda=0.92",
                     "++trainer.ppo.max_grad_norm=0.8", "++trainer.ppo.vf_coef=0.58096"],
    "reacher": ["++trainer.normalize=true", "++trainer.n_envs=1", "++trainer.ppo.n_steps=512",
                "++trainer.ppo.batch_size=32", "++trainer.ppo.gamma=0.9", "++trainer.ppo.learning_rate=0.000104019",
                "++trainer.ppo.ent_coef=7.52585e-08", "++trainer.ppo.clip_range=0.3", "++trainer.ppo.n_epochs=5",
                "++trainer.ppo.gae_lambda=1.0", "++trainer.ppo.max_grad_norm=0.9", "++trainer.ppo.vf_coef=0.950368"],
}


def over(values: list[float | None]) -> SeedStats:
    """Values (None: missing) as one record with their mean and standard deviation."""
    return SeedStats(dict(enumerate(values)))


@dataclass
class Row:
    """One task's figures over its search seeds."""

    task: str
    llm: str
    runs: list[RunData]

    @property
    def done(self) -> list[RunData]:
        return [r for r in self.runs if r.final.mean is not None]

    @property
    def final(self) -> SeedStats:
        """Mean +- std over search seeds of each run's final re-training mean (the method's spread)."""
        return over([r.final.mean for r in self.done])

    def pooled(self, attr: str) -> SeedStats:
        """A baseline over every final seed of every run (baselines do not depend on the search)."""
        return over([v for r in self.runs for v in getattr(r, attr).per_seed.values()])

    @property
    def search_best(self) -> SeedStats:
        """What each run reports for its best (held-out search seeds once confirmed), over runs."""
        return over([r.best_search_fitness for r in self.runs])

    @property
    def search_selection(self) -> SeedStats:
        """Each run's best on the search seeds that chose it (optimistic), over runs."""
        return over([r.best_selection_fitness for r in self.runs])

    @property
    def hns(self) -> float | None:
        f, e, s = self.final.mean, self.pooled("env_baseline").mean, self.pooled("sparse_baseline").mean
        if None in (f, e, s) or abs(e - s) < 1e-12:
            return None
        return (f - s) / abs(e - s)

    @property
    def hns_note(self) -> str:
        e, s = self.pooled("env_baseline"), self.pooled("sparse_baseline")
        if e.mean is None or s.mean is None:
            return ""
        gap, spread = abs(e.mean - s.mean), max(e.std or 0, s.std or 0)
        return "small denominator" if spread > 0 and gap < 2 * spread else ""

    def groups(self, attr: str) -> list[list[float]]:
        """One group per run: its values per final seed (``final``, ``env_baseline`` or ``sparse_baseline``)."""
        return [[v for v in getattr(r, attr).per_seed.values() if v is not None] for r in self.runs]

    def iqm_ci(self, attr: str) -> tuple[float | None, float | None, float | None]:
        g = self.groups(attr)
        return (iqm([v for x in g for v in x]), *bootstrap_ci(iqm, g))

    def poi(self, a: str, b: str) -> tuple[float | None, float | None, float | None]:
        """``P(a > b)`` over final re-trainings, with its 95% bootstrap interval."""
        ga, gb = self.groups(a), self.groups(b)
        return (probability_of_improvement([v for x in ga for v in x], [v for x in gb for v in x]),
                *bootstrap_ci(probability_of_improvement, ga, gb))

    @property
    def budget_judges(self) -> bool | None:
        """Env reward and sparse differ significantly (the interval of P(env > sparse) excludes 0.5)."""
        p, lo, hi = self.poi("env_baseline", "sparse_baseline")
        return None if p is None else bool(lo > 0.5 or hi < 0.5)

    @property
    def within_20(self) -> bool | None:
        """The final mean is within 20% of the search's reported best (mean over runs)."""
        f, b = self.final.mean, self.search_best.mean
        if f is None or b is None:
            return None
        return abs(f - b) <= 0.2 * max(abs(b), 1e-12)

    @property
    def env_steps(self) -> int:
        return sum(r.total_env_steps or 0 for r in self.runs)

    @property
    def wall_s(self) -> float:
        return sum(r.wall_time_s or 0 for r in self.runs)


def _g(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _pm(st: SeedStats) -> str:
    return "-" if st.mean is None else f"{_g(st.mean)} ± {_g(st.std or 0.0)} (n={len(st.values)})"


def _ci(t: tuple[float | None, float | None, float | None]) -> str:
    v, lo, hi = t
    return "-" if v is None else f"{_g(v)} [{_g(lo)}, {_g(hi)}]"


def _yes(v: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "-" if v is None else (yes if v else no)


def cells(row: Row) -> list[str]:
    n = len(row.runs)
    seeds = ",".join(str(r.search_seed) for r in row.runs)
    wall = row.wall_s
    judge = row.budget_judges
    return [row.task, row.llm, f"{len(row.done)}/{n} ({seeds})", _pm(row.final), _pm(row.search_best),
            _pm(row.search_selection),
            _pm(row.pooled("env_baseline")), _pm(row.pooled("sparse_baseline")),
            _ci(row.iqm_ci("final")), _ci(row.iqm_ci("env_baseline")), _ci(row.poi("final", "env_baseline")),
            _yes(judge, "yes", "NO: this budget cannot judge rewards") + f" ({_ci(row.poi('env_baseline', 'sparse_baseline'))})",
            _yes(row.within_20),
            _g(row.hns) + (f" ({row.hns_note})" if row.hns_note and row.hns is not None else ""),
            f"{row.env_steps:,}", f"{wall / 60:.1f} min ({wall / max(n, 1):.0f} s/run)"]


HEADER = ["task", "designer", "runs done (seeds)", "final fitness: mean ± std over seeds",
          "search's reported best (held-out search seeds)", "search best on the seeds that chose it (optimistic)",
          "env reward", "sparse fitness",
          "final IQM [95% CI]", "env reward IQM [95% CI]", "P(final > env) [95% CI]",
          "env vs sparse differ? (P(env > sparse) [95% CI])", "final within 20% of search best",
          "human-normalized", "env steps (all)", "wall time"]


def seeds_table(rows: list[Row]) -> list[str]:
    """Which seeds served what, per run: the search seeds that chose its best reward, the held-out search seeds
    that confirmed it, all its search seeds, and the final seeds."""
    out = ["", "| task | run | best candidate | search seeds that chose it: fitness | held-out seeds that confirmed it: "
               "fitness | all search seeds | final seeds |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        for r in row.runs:
            best = r.summary.best if r.summary is not None else None
            out.append(f"| {row.task} | seed {r.search_seed} | {best.id if best else '-'} | "
                       + (", ".join(f"{k}: {_g(v)}" for k, v in (best.seed_fitness if best else {}).items()) or "-")
                       + " | " + (", ".join(f"{k}: {_g(v)}" for k, v in r.confirmed.per_seed.items()) or "-")
                       + f" | {', '.join(map(str, r.search_seeds)) or '-'} | "
                       f"{', '.join(r.final_seeds) or '-'} |")
    return out


def goal_lines(rows: list[Row]) -> list[str]:
    pois = [r.poi("final", "env_baseline")[0] for r in rows]
    hits = sum(1 for p in pois if p is not None and p >= 0.5)
    within = sum(1 for r in rows if r.within_20)
    return ["", f"Goal: P(final > env) >= 0.5 on {hits} of {len(rows)} task(s) (target: 5 of 7); final mean "
            f"within 20% of the search's reported best on {within} of {len(rows)} (target: all)."]


def markdown(rows: list[Row], cmd: str) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    out += goal_lines(rows)
    out += ["", f"Command: `{cmd}`  ", f"Machine: {platform.node()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}.  ",
            "Final fitness: each run's best reward re-trained on its final seeds (never the search seed), "
            "mean over those, then mean ± std over search seeds. Baselines: the env's own reward and the "
            "sparse fitness, same budget and final seeds, pooled over all runs. Human-normalized: "
            "(final - sparse) / |env - sparse|. IQM and P(final > env): rliable's definitions "
            "(eureka/analyze/stats.py), 95% intervals from 2000 bootstrap resamples of search runs and of the "
            "final seeds within them. Search seeds and final seeds never meet (below)."]
    out += seeds_table(rows)
    return "\n".join(out) + "\n"


def html_page(rows: list[Row], cmd: str, out_dir: Path) -> str:
    from eureka.report.html import _page  # the report's stylesheet

    def e(x) -> str:
        return html.escape(str(x))

    body = ["<header><h1>eureka: search quality</h1>", f'<div class="muted">{e(cmd)}</div></header><main>',
            "<section><table class=\"sortable\" id=\"bench\"><thead><tr>",
            "".join(f"<th>{e(h)}</th>" for h in HEADER), "</tr></thead><tbody>"]
    for r in rows:
        body.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells(r)) + "</tr>")
    body.append("</tbody></table></section><section><h2>Run reports</h2><ul>")
    for r in rows:
        for run in r.runs:
            rep = run.path / "report.html"
            if rep.exists():
                body.append(f'<li><a href="{e(os.path.relpath(rep, out_dir))}">{e(r.task)} seed '
                            f"{e(run.search_seed)}</a> ({e(run.status)})</li>")
    body.append("</ul></section></main>")
    return _page("eureka: search quality", "".join(body))


def confirmation_done(run: RunData) -> bool:
    """The run confirmed its best on held-out search seeds, or was told not to (``loop.confirm.seeds=0``): a run
    completed before the loop confirmed is resumed, which adds just that."""
    if run.summary is not None and run.summary.confirmed is not None:
        return True
    loop = run.config.get("loop")
    confirm = loop.get("confirm") if isinstance(loop, dict) else None
    return isinstance(confirm, dict) and confirm.get("seeds") == 0


def final_seeds(seed: int, n: int) -> list[int]:
    """The ``n`` final re-training seeds of the search with ``seed``: ``1000 + 10 * seed + j``, never a search seed."""
    return [1000 + 10 * seed + j for j in range(n)]


def run_args(task: str, seed: int, run_dir: Path, llm: str, n_eval: int, overrides: list[str],
             zoo: bool = True) -> list[str]:
    """The ``eureka`` command-line arguments of one search: the task (its file for ``TASK_ARGS``), rl-zoo3's
    settings from ``ZOO`` unless ``zoo`` is false, its ``final_seeds``, then ``overrides``."""
    eval_seeds = final_seeds(seed, n_eval)
    return [f"task={TASK_ARGS.get(task, task)}", *(ZOO.get(task, []) if zoo else []), f"llm={llm}", f"seed={seed}",
            f"eval.seeds=[{','.join(map(str, eval_seeds))}]", "eval.baselines=true", "video=false",
            f"hydra.run.dir={run_dir}", *overrides]


def run_one(task: str, seed: int, run_dir: Path, llm: str, n_eval: int, overrides: list[str],
            zoo: bool = True) -> str:
    """Run (or skip, or resume) one search; return what happened."""
    summary = run_dir / "summary.json"
    if summary.exists():
        try:
            run = load_run(run_dir)
            if run.status == "completed" and confirmation_done(run):
                return "skipped (completed)"
        except FileNotFoundError:
            pass
    args = run_args(task, seed, run_dir, llm, n_eval, overrides, zoo)
    how = "ran"
    if run_dir.exists() and any(run_dir.iterdir()):
        if (run_dir / ".hydra" / "overrides.yaml").is_file():
            # eureka resume=: the run's own command line, plus the overrides a resumed run may change (iterations)
            from eureka.cli import RESUMABLE

            args = [f"resume={run_dir}", *(o for o in overrides if o.lstrip("+~").startswith(RESUMABLE))]
            how = "resumed"
        else:
            shutil.rmtree(run_dir)
            how = "restarted"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log = run_dir.parent / f"{run_dir.name}.log"
    t0 = time.time()
    with log.open("w") as f:
        code = subprocess.call([sys.executable, "-m", "eureka.cli", *args], stdout=f, stderr=subprocess.STDOUT,
                               env=env, cwd=str(ROOT))
    status = f"{how}, exit {code}, {time.time() - t0:.0f} s (log {log})"
    if code != 0:
        status += " FAILED"
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = " ".join(["python benchmarks/search_quality.py", *argv])
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(ALL), help="comma-separated task names")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated search seeds")
    parser.add_argument("--llm", default="offline", help="designer config: offline, openai, replay")
    parser.add_argument("--eval-seeds", type=int, default=5, help="final re-training seeds per run")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_quality"),
                        help="one run directory per task and seed below this")
    parser.add_argument("--no-zoo", action="store_true",
                        help="keep the tasks' own trainer settings (conf/task/*.yaml) instead of the ZOO entries: "
                             "rl-zoo3's settings are tuned for its budget (hopper: 1,000,000 steps)")
    parser.add_argument("--table-only", action="store_true", help="only (re)write the table from what is there")
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = Path(args.out).resolve()
    if not args.table_only:
        for task in tasks:
            for seed in seeds:
                run_dir = out / task / args.llm / f"seed{seed}"
                print(f"{task} seed {seed}: ", end="", flush=True)
                print(run_one(task, seed, run_dir, args.llm, args.eval_seeds, overrides,
                              zoo=not args.no_zoo), flush=True)
    rows = []
    for task in tasks:
        runs = []
        for seed in seeds:
            d = out / task / args.llm / f"seed{seed}"
            try:
                runs.append(load_run(d))
            except FileNotFoundError:
                continue
        if runs:
            rows.append(Row(task, args.llm, runs))
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(rows, cmd)
    (out / "search_quality.md").write_text(md)
    (out / "search_quality.html").write_text(html_page(rows, cmd, out))
    print()
    print(md)
    print(f"wrote {out / 'search_quality.md'} and {out / 'search_quality.html'}")
    return 0 if all(len(r.done) == len(seeds) for r in rows) and len(rows) == len(tasks) else 1


if __name__ == "__main__":
    sys.exit(main())
