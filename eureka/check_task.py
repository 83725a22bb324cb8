"""``eureka-check-task``: verify a task definition, like Gymnasium's ``check_env``.

Checks that the env builds and steps, that the state extractor returns every
declared variable with the declared shape as finite float tensors, that the
fitness is per-env, that the hints name state variables, that the offline
designer's seed reward passes the critic, that a trivial reward trains for a few
steps and yields a fitness, and that a frame renders. Prints each problem
clearly; exits 1 when there is one. (The checks themselves: ``eureka/check.py``.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from eureka import tasks
from eureka.check import _fail, check_env, collect_states, fitness_problem, hint_problem, state_problems
from eureka.errors import EurekaError, TaskCheckError


def check_task(name: str, train_steps: int = 256, render: bool = True) -> list[tuple[str, bool, str]]:
    """Run every check; return ``(check, passed, detail)`` rows."""
    rows: list[tuple[str, bool, str]] = []

    def record(check: str, ok: bool, detail: str = "") -> bool:
        rows.append((check, ok, detail))
        return ok

    if name.endswith(".py") and Path(name).expanduser().is_file():
        # a relative path means the caller's folder: resolved now, before the training's jail changes folder
        name = str(Path(name).expanduser().resolve())
    try:
        task = tasks.make(name)
    except EurekaError as exc:
        record("task loads", False, str(exc))
        return rows
    record("task loads", True, f"{task.name} ({task.source or 'python'})")
    record("description", bool(task.description.strip()), "" if task.description.strip() else "empty description")
    names = task.state_names
    dupes = {n for n in names if names.count(n) > 1}
    record("state variables", bool(names) and not dupes,
           f"{len(names)} declared" if not dupes else f"duplicate names: {', '.join(sorted(dupes))}")
    try:
        check_env(task)
        record("env builds and steps", True, f"{task.env_id}")
    except TaskCheckError as exc:
        record("env builds and steps", False, str(exc))
        return rows
    try:
        states = collect_states(task, n_envs=2, steps=8, seed=0)
    except TaskCheckError as exc:
        record("state extractor runs", False, str(exc))
        return rows
    n = 16
    problems = [p for _, p in state_problems(task, states, n)]
    extra = sorted(set(states) - set(names))
    if extra:
        problems.append(f"returned but not declared: {', '.join(extra)}")
    record("state shapes and dtypes", not problems, "; ".join(problems) or f"{len(states)} variables, N={n}")
    problem = fitness_problem(task, states, n)
    record("fitness step", problem is None, problem or f"reduce={task.fitness.reduce}")
    hint = hint_problem(task)
    record("hints", hint is None, _fail(task, *hint).args[0] if hint else f"{len(task.hints)} hints")
    if problems:
        return rows
    from eureka.critic import Critic, SandboxLimits, SandboxPool
    from eureka.llm.offline import CodeWriter, seed_genome

    code = CodeWriter(task).code(seed_genome(task))
    with SandboxPool(SandboxLimits(workers=1)) as pool:
        verdict = Critic(names, states, pool).check_code(code)
    record("seed reward passes the critic", verdict.ok, verdict.message if not verdict.ok else
           f"components: {', '.join(verdict.components)}")
    if verdict.ok:
        from eureka.config import EurekaConfig, TaskConfig
        from eureka.train import LocalExecutor, train_spec

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reward.py"
            path.write_text(code)
            # the training runs behind the same walls as a search's (a walled child process)
            result = LocalExecutor(1, timeout_s=600).run([train_spec(
                EurekaConfig(task=TaskConfig(name=name)), job_id="check", reward_path=str(path), n_envs=2,
                total_timesteps=train_steps, eval_episodes=1, algo="ppo",
                hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1}, tensorboard=False,
                out_dir=str(Path(tmp) / "train"))])[0]
        record("a trivial reward trains", result.ok,
               f"fitness after {train_steps} steps: {result.fitness}" if result.ok
               else f"{result.error_class}: {result.message}")
    if render:
        try:
            import eureka.render  # noqa: F401 - sets MUJOCO_GL

            env = task.make_env(render_mode="rgb_array", **task.render_kwargs)
            env.reset(seed=0)
            frame = env.render()
            env.close()
            if isinstance(frame, np.ndarray) and frame.ndim == 3:
                record("renders rgb_array frames", True, f"{frame.shape}")
            else:
                record("renders rgb_array frames", False, "render() returned no image")
        except Exception as exc:  # noqa: BLE001
            record("renders rgb_array frames", False, f"{type(exc).__name__}: {exc} (videos will be skipped)")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(prog="eureka-check-task", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="registered task name or path to a task file")
    parser.add_argument("--steps", type=int, default=256, help="training steps for the trivial reward")
    parser.add_argument("--no-render", action="store_true", help="skip the rendering check")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no dependency banner in the check's output
    rows = check_task(args.task, args.steps, render=not args.no_render)
    table = Table(title=f"eureka-check-task {args.task}")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for check, ok, detail in rows:
        table.add_row(check, "[green]ok[/]" if ok else "[red]FAIL[/]", detail)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    failed = [r for r in rows if not r[1]]
    if failed:
        console.print(f"[red]{len(failed)} problem(s)[/] in task '{args.task}'")
        sys.exit(1)
    console.print(f"[green]task '{args.task}' looks good[/]")


if __name__ == "__main__":
    main()
