"""What the terminal shows: bars complete at the end, a timer per training, no token line without tokens,
no wrapping inside code or paths when the output is a file."""

import io

from rich.console import Console

from eureka.evolve.candidate import Candidate, Status
from eureka.report import RichReporter, make_console, print_summary


def _file_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, log_path=False)
    console.soft_wrap = True  # as make_console() for a file
    return console, buf


def _task(reporter: RichReporter, description: str):
    return next(t for t in reporter.progress.tasks if t.description == description)


def test_bars_complete_and_each_training_has_its_own_timer():
    console, _ = _file_console()
    reporter = RichReporter(console)
    with reporter:
        reporter.iteration_started(0, 2)
        cands = [Candidate(f"iter0_sample{k}", 0, k) for k in range(2)]
        reporter.candidates_designed(0, cands)
        for c in cands:
            reporter.training_started(c.id, 512)
        reporter.training_progress("iter0_sample0", 256)
        assert _task(reporter, "  train iter0_sample0").started
        assert not _task(reporter, "  train iter0_sample1").started  # queued: its timer has not started
        for c in cands:
            c.status, c.fitness = Status.OK, 1.0
            reporter.candidate_done(c)
        reporter.iteration_started(1, 2)
        reporter.phase("final evaluation")  # the iterations are over
        assert _task(reporter, "iterations").completed == 2
        reporter.training_started("best_seed1", 512)
        reporter.training_started("best_seed2", 512)
        reporter.training_progress("best_seed1", 512)
        assert not _task(reporter, "  train best_seed2").started
    assert all(t.finished for t in reporter.progress.tasks if t.description != "  train best_seed2")


def test_a_search_that_stops_early_completes_its_bar():
    console, _ = _file_console()
    reporter = RichReporter(console)
    with reporter:
        reporter.iteration_started(0, 5)
    task = reporter.progress.tasks[0]
    assert task.finished and task.completed == 1 and "stopped after 1 of 5" in task.description


def _summary(usage: dict) -> dict:
    return {"task": "reacher", "llm": "offline", "iterations": [], "best_candidate": "iter0_sample0",
            "best_fitness": -0.1, "llm_usage": usage, "wall_time_s": 3.0}


CODE = ("def compute_reward(distance: torch.Tensor, actions: torch.Tensor) -> Tuple[torch.Tensor, "
        "Dict[str, torch.Tensor]]:\n    # eureka-genome: " + "x" * 200 + "\n    return distance, {}\n")


def test_output_to_a_file_wraps_nothing_and_offline_runs_have_no_token_line():
    console, buf = _file_console()
    run_dir = "/very/long/" + "d" * 120 + "/outputs/reacher/2026-11-30_06-04-26"
    print_summary(_summary({"requests": 4, "prompt_tokens": 0, "completion_tokens": 0}), console, run_dir, CODE)
    RichReporter(console).message(f"open http://127.0.0.1:8765/{'p' * 100}")
    out = buf.getvalue()
    for line in CODE.splitlines():
        assert line in out.splitlines()  # whole, unpadded
    assert f"Run directory: {run_dir}" in out.splitlines()
    assert any(line.endswith(f"open http://127.0.0.1:8765/{'p' * 100}") for line in out.splitlines())
    assert "token" not in out and "Wall time 3 s." in out
    console, buf = _file_console()
    print_summary(_summary({"requests": 2, "prompt_tokens": 900, "completion_tokens": 300, "usd": 0.01}),
                  console, "/r")
    assert "LLM: 2 requests, 900 prompt + 300 completion tokens, $0.0100. Wall time 3 s." in buf.getvalue()


def test_the_runs_console_soft_wraps_only_outside_a_terminal():
    assert make_console().soft_wrap is True  # pytest captures stdout: not a terminal


def test_the_searchs_best_says_how_many_seeds_it_rests_on():
    """A summary without ``chosen_reward`` (written before issue 31): the estimate is made from its parts,
    each role with its seeds, the selection seeds labelled optimistic."""
    final = {"final_eval": {"mean": 0.45, "std": 0.42, "per_seed": {"1010": 0.87, "1011": 0.03}}}
    console, buf = _file_console()
    print_summary({**_summary({}), **final, "best_search_seeds": {"1": 0.86, "7920": 0.03}, "best_fitness": 0.2,
                   "best_selection_fitness": 0.445,
                   "best_confirmed": {"seeds": [15839, 23758], "per_seed": {"15839": 0.1, "23758": 0.3},
                                      "mean": 0.2, "std": 0.1}}, console, "/r")
    out = " ".join(buf.getvalue().split())
    assert "Result: chosen reward iter0_sample0: 0.365" in out and "mean of all 6 trainings" in out
    assert "search seeds that selected it (optimistic: they chose it) 1, 7920: 0.445 +- 0.415" in out
    assert "held-out search seeds 15839, 23758: 0.200 +- 0.100" in out and "final seeds 1010, 1011: 0.450" in out
