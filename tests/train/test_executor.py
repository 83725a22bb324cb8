"""The local executor: parallel trainings in child processes that survive crashes and hangs."""

from eureka.train import LocalExecutor, TrainSpec
from tests.train.test_runner import GOOD, _spec


def test_raising_reward_fails_only_its_candidate(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\ndef compute_reward(pole_angle):\n"
                   "    if bool((pole_angle.abs() > 0.15).any()):\n        raise ValueError('boom')\n"
                   "    return pole_angle, {}\n")
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    sac_on_discrete = _spec(tmp_path, "sac", path=str(good), algo="sac")  # the CLI refuses it; the runner too
    results = LocalExecutor(max_workers=2).run(
        [_spec(tmp_path, "bad", path=str(bad)), _spec(tmp_path, "good", path=str(good)), sac_on_discrete])
    bad_r, good_r, sac_r = results
    assert not bad_r.ok and bad_r.failure.error_class == "RewardRuntimeError"
    assert "boom" in bad_r.failure.message and "training step" in bad_r.failure.message
    assert good_r.ok
    assert sac_r.failure.error_class == "TrainingCrash" and "continuous" in sac_r.failure.message


def test_executor_survives_a_dying_and_a_hanging_process(tmp_path):
    die = tmp_path / "die.py"
    # passes no critic (uses nothing forbidden at load time here) but kills its training process
    die.write_text("import torch\nimport numpy as np\ndef compute_reward(pole_angle):\n"
                   "    x = torch.ones(1)\n    return x.expand(10**12).sum() * pole_angle, {}\n")
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    results = LocalExecutor(max_workers=2, timeout_s=60).run(
        [_spec(tmp_path, "die", path=str(die)), _spec(tmp_path, "ok", path=str(good))])
    assert not results[0].ok
    assert results[1].ok
    hang = LocalExecutor(max_workers=1, timeout_s=3).run(
        [TrainSpec(job_id="slow", task="cartpole", mode="env", total_timesteps=10**7, n_envs=1)])
    assert hang[0].failure.error_class == "TrainingCrash" and "did not finish" in hang[0].failure.message


def _watch_starts(ex: LocalExecutor) -> list[str]:
    """The job ids ``ex`` starts a process for from now on."""
    started: list[str] = []
    start = ex._start

    def counted(spec, spare):
        started.append(spec.job_id)
        return start(spec, spare)

    ex._start = counted
    return started


def test_spare_work_fills_an_idle_slot_and_a_later_run_takes_its_result(tmp_path):
    ex = LocalExecutor(max_workers=2)
    spare = _spec(tmp_path, "env_seed3", mode="env", seed=3)
    ex.prefetch([spare])
    assert not (tmp_path / "env_seed3").exists()  # spare work waits for a slot that would idle
    started = _watch_starts(ex)
    first = ex.run([_spec(tmp_path, "a", mode="env")])  # one training on two workers: the other slot is free
    assert first[0].ok and started == ["a", "env_seed3"]
    again = ex.run([_spec(tmp_path, "b", mode="env"), spare])
    assert started == ["a", "env_seed3", "b"]  # the spare's own training, not a second one
    assert again[1].ok and again[1].job_id == "env_seed3" and again[1].fitness is not None
    ex.shutdown()


def test_spare_work_under_a_name_that_now_means_another_spec_is_not_taken(tmp_path):
    ex = LocalExecutor(max_workers=2)
    ex.prefetch([_spec(tmp_path, "x", mode="env", seed=3)])
    started = _watch_starts(ex)
    ex.run([_spec(tmp_path, "a", mode="env")])
    asked = _spec(tmp_path, "x", mode="env", seed=4)
    result = ex.run([asked])[0]
    assert started == ["a", "x", "x"] and result.ok  # trained as asked (seed 4), the seed-3 spare dropped
    ex.shutdown()


def test_shutdown_stops_spare_work_nobody_asked_for(tmp_path):
    ex = LocalExecutor(max_workers=2, timeout_s=120)
    ex.prefetch([TrainSpec(job_id="long", task="cartpole", mode="env", total_timesteps=10**7, n_envs=1,
                           out_dir=str(tmp_path / "long"))])
    ex.run([_spec(tmp_path, "a", mode="env")])
    child = ex._jobs["long"].child
    assert child.alive()
    ex.shutdown()
    assert not child.alive() and not ex._jobs
