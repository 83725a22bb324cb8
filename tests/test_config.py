"""One typed configuration: the composed config becomes an ``EurekaConfig``; trainings are built from it."""

import dataclasses

import pytest
import yaml
from hydra import compose, initialize_config_dir

from eureka.config import ALGOS, EurekaConfig, TaskConfig, TrainerConfig, sb3_class, to_yaml, typed
from eureka.paths import conf_dir
from eureka.train import TrainSpec, train_spec


def _composed(*overrides):
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose("config", overrides=list(overrides))


def test_the_composed_config_becomes_one_typed_object():
    cfg = typed(_composed("task=pendulum", "iterations=2", "trainer.device=cpu"))
    assert isinstance(cfg, EurekaConfig) and isinstance(cfg.trainer, TrainerConfig)
    assert cfg.iterations == 2 and cfg.task.name == "pendulum" and cfg.trainer.device == "cpu"
    assert isinstance(cfg.trainer.total_timesteps, int) and isinstance(cfg.trainer.ppo, dict)
    assert typed(cfg) is cfg


def test_trainings_take_every_trainer_and_sandbox_setting_from_the_config():
    cfg = typed(_composed("task=cartpole", "sandbox.call_timeout_s=3", "sandbox.cpu_s=7", "eval.episodes=4"))
    spec = train_spec(cfg, job_id="j", mode="env", seed=5, out_dir="/tmp/x")
    t = cfg.trainer
    for f in dataclasses.fields(TrainSpec):
        if hasattr(t, f.name):
            assert getattr(spec, f.name) == getattr(t, f.name), f.name
    assert spec.device == "auto" == EurekaConfig().trainer.device  # the config's default, not TrainSpec's
    assert spec.hyperparams == t.ppo and spec.hyperparams["n_steps"] == 32
    assert (spec.call_timeout_s, spec.first_call_cpu_s, spec.eval_episodes) == (3.0, 7.0, 4)
    assert (spec.job_id, spec.mode, spec.seed, spec.task) == ("j", "env", 5, "cartpole")
    assert train_spec(cfg, job_id="k", n_envs=2).n_envs == 2  # a job may differ in any field


def test_the_run_directorys_config_hides_the_api_key():
    cfg = EurekaConfig(task=TaskConfig(name="cartpole"))
    cfg.llm.api_key = "sk-secret"
    text = to_yaml(cfg)
    assert "sk-secret" not in text and yaml.safe_load(text)["llm"]["api_key"] == "***"
    assert cfg.llm.api_key == "sk-secret"  # the run's own object is unchanged


@pytest.mark.parametrize("algo", ALGOS)
def test_the_list_of_algorithms_is_the_sb3_classes(algo):
    from eureka.train.runner import ALGOS as RUNNER_ALGOS

    assert sb3_class(algo).__name__ == algo.upper() and RUNNER_ALGOS[algo] is sb3_class(algo)


@pytest.mark.parametrize("override", ["trainer.algo=sacc", "trainer.device=gpu", "llm.provider=claude",
                                      "loop.selection=best", "loop.allocation=half", "feedback.mode=mail",
                                      "executor.name=slurm"])
def test_hydra_itself_refuses_a_value_that_is_no_choice(override):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as info:
        _composed(override)
    assert "expected one of" in str(info.value.__cause__)


def test_a_choice_is_its_value_everywhere():
    import json

    from eureka.config import Algo, Selection

    cfg = typed(_composed("trainer.algo=sac", "loop.selection=mixed"))
    assert cfg.trainer.algo is Algo.sac and cfg.trainer.algo == "sac" and f"{cfg.trainer.algo}" == "sac"
    assert {"sac": 1}[cfg.trainer.algo] == 1 and json.dumps(cfg.loop.selection) == '"mixed"'
    assert yaml.safe_load(to_yaml(cfg))["loop"]["selection"] == "mixed" and Selection("mixed") is cfg.loop.selection


@pytest.mark.parametrize("task", ["hopper", "half_cheetah", "walker2d", "ant", "humanoid"])
def test_the_mujoco_tasks_share_one_trainer_group(task):
    cfg = typed(_composed(f"task={task}"))
    t = cfg.trainer
    assert (t.algo, t.n_envs, t.normalize, t.ppo["n_steps"], t.sac["learning_starts"]) == ("ppo", 8, True, 256, 10000)
    assert t.total_timesteps == (300_000 if task in ("ant", "humanoid") else 200_000)
    assert typed(_composed(f"task={task}", "trainer.total_timesteps=5")).trainer.total_timesteps == 5
