"""The GPU path's choices, tested on a CPU machine by passing the device in: trainer.device=auto, trainer.sim=auto
picking MuJoCo Warp on cuda, the per-task GPU batch (trainer.gpu_num_envs), executor.per_gpu (local slots, Ray's
num_gpus) and what a training's jail may open on CUDA (the NVIDIA device nodes, the driver's libraries)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eureka
from eureka import tasks
from eureka.config import ExecutorConfig, check_config, typed
from eureka.errors import ConfigError, TrainingCrash
from eureka.sandbox.jail import JailSpec, cuda_device_nodes, cuda_library_dirs
from eureka.train import LocalExecutor, TrainSpec, make_executor, train_spec
from eureka.train.executor import GpuSlots, _job_main, wants_gpu
from eureka.train.job import jail_spec, trains_on_cuda
from eureka.train.process import resolve_device
from eureka.train.ray_executor import task_resources
from eureka.train.vector import warp_sim
from eureka.train.vector.sims import choose_sim, on_gpu, sim_num_envs, simulates_on_gpu, training_num_envs

needs_warp = pytest.mark.skipif(not warp_sim.warp_installed(),
                                reason="MuJoCo Warp is not installed (pip install 'eureka-rl[warp]')")
MUJOCO = ["hopper", "half_cheetah", "walker2d", "ant", "humanoid"]
HAS_CUDA = torch.cuda.is_available()


def compose(*overrides: str):
    from eureka.cli import compose_configs

    [cfg] = compose_configs(list(overrides))
    return typed(cfg)


# -- trainer.device=auto --------------------------------------------------------------------------------------

def test_trainer_device_auto_resolves_to_cuda_exactly_when_torch_sees_one():
    assert resolve_device("auto") == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == "cpu"
    assert on_gpu("cuda") and on_gpu("cuda:1") and not on_gpu("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA machine")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_a_training_crash(device):
    with pytest.raises(TrainingCrash, match=f"trainer.device={device} but no CUDA device"):
        resolve_device(device)


# -- trainer.sim=auto -----------------------------------------------------------------------------------------

@needs_warp
@pytest.mark.parametrize("name", MUJOCO)
def test_sim_auto_picks_warp_for_the_mujoco_tasks_on_cuda_and_the_cpu_sims_on_the_cpu(name):
    task = tasks.make(name)
    assert choose_sim(task, "auto", "cuda") == ("warp", None)
    assert choose_sim(task, "auto", "cuda:1") == ("warp", None)
    cpu = choose_sim(task, "auto", "cpu")
    assert cpu[0] in ("envpool", "gymnasium")
    assert cpu == choose_sim(task, "auto")  # the CPU default is the choice of before
    assert choose_sim(task, "envpool", "cuda")[0] == "envpool"  # a named sim stays named on a GPU
    assert choose_sim(task, "gymnasium", "cuda") == ("gymnasium", None)


def test_sim_auto_on_cuda_keeps_the_cpu_sims_for_a_task_without_a_warp_model():
    task = tasks.make("cartpole")
    assert choose_sim(task, "auto", "cuda") == choose_sim(task, "auto", "cpu")
    assert choose_sim(task, "auto", "cuda")[0] != "warp"


def test_sim_auto_on_cuda_without_mujoco_warp_keeps_the_cpu_sims(monkeypatch):
    task = tasks.make("hopper")
    cpu = choose_sim(task, "auto", "cpu")
    monkeypatch.setattr(warp_sim, "warp_installed", lambda: False)
    assert choose_sim(task, "auto", "cuda") == cpu
    with pytest.raises(ConfigError, match="MuJoCo Warp is not installed"):
        choose_sim(task, "warp", "cuda")


# -- the per-task GPU batch (trainer.gpu_num_envs) ------------------------------------------------------------

@pytest.mark.parametrize("name,gpu", [("hopper", 4096), ("half_cheetah", 4096), ("walker2d", 4096), ("ant", 4096),
                                      ("humanoid", 2048)])
def test_each_mujoco_task_has_a_gpu_batch_used_only_on_a_gpu_simulation(name, gpu):
    cfg = compose(f"task={name}", "trainer.backend=vector")
    t = cfg.trainer
    assert t.gpu_num_envs == gpu and t.num_envs == (64 if name == "hopper" else 16)  # the CPU batch (EnvPool)
    assert training_num_envs(t, name, "cpu") == t.num_envs
    if warp_sim.warp_installed():
        assert training_num_envs(t, name, "cuda") == gpu
    sb3 = compose(f"task={name}", "trainer.backend=sb3").trainer
    assert training_num_envs(sb3, name, "cuda") == sb3.num_envs  # the SB3 backend never simulates on a GPU
    off = compose(f"task={name}", "trainer.backend=vector", "trainer.gpu_num_envs=0").trainer
    assert training_num_envs(off, name, "cuda") == off.num_envs
    mine = compose(f"task={name}", "trainer.backend=vector", "trainer.gpu_num_envs=512").trainer
    if warp_sim.warp_installed():
        assert training_num_envs(mine, name, "cuda") == 512


def test_the_gpu_batch_applies_to_warp_on_cuda_only():
    assert sim_num_envs(16, 4096, "warp", "cuda") == 4096
    assert sim_num_envs(16, 4096, "warp", "cuda:2") == 4096
    assert sim_num_envs(16, 4096, "warp", "cpu") == 16  # Warp's CPU mode (tests)
    assert sim_num_envs(16, 4096, "envpool", "cuda") == 16
    assert sim_num_envs(16, 0, "warp", "cuda") == 16
    cart = compose("task=cartpole", "trainer.backend=vector").trainer
    assert cart.gpu_num_envs == 0 and training_num_envs(cart, "cartpole", "cuda") == cart.num_envs


def test_train_spec_carries_the_batch_of_this_machine():
    cfg = compose("task=hopper", "trainer.backend=vector")
    spec = train_spec(cfg, job_id="x", mode="env", seed=0)
    assert spec.num_envs == (4096 if HAS_CUDA and warp_sim.warp_installed() else 64)  # hopper's CPU batch: 64
    cpu = train_spec(compose("task=hopper", "trainer.backend=vector", "trainer.device=cpu"), job_id="x", mode="env")
    assert cpu.num_envs == 64


@pytest.mark.parametrize("override,message", [("trainer.gpu_num_envs=-1", "trainer.gpu_num_envs=-1: must be"),
                                              ("executor.per_gpu=0", "executor.per_gpu=0: must be")])
def test_gpu_settings_out_of_range_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        check_config(compose("task=hopper", override))


# -- several trainings per GPU (executor.per_gpu) --------------------------------------------------------------

def test_gpu_slots_fill_the_least_loaded_gpu_up_to_per_gpu():
    slots = GpuSlots(gpus=2, per_gpu=2)
    assert slots.capacity == 4
    assert [slots.take() for _ in range(5)] == [0, 1, 0, 1, None]
    slots.release(1)
    assert slots.take() == 1 and slots.take() is None
    assert GpuSlots(gpus=0, per_gpu=3).take() is None


def spec_on(device: str, job: str = "j") -> TrainSpec:
    return TrainSpec(job_id=job, task="hopper", mode="env", device=device)


def test_the_local_executor_places_cuda_trainings_per_gpu_and_leaves_cpu_ones_alone():
    ex = LocalExecutor(max_workers=16, per_gpu=2, gpus=2)
    slots = GpuSlots(ex.gpus, ex.per_gpu)
    placed = [ex.place(spec_on("cuda", f"j{i}"), slots) for i in range(5)]
    assert [p[0].device if p else None for p in placed] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", None]
    assert [p[1] if p else None for p in placed] == [0, 1, 0, 1, None]
    auto = ex.place(spec_on("auto"), GpuSlots(2, 2))
    assert auto is not None and auto[0].device == "cuda:0"  # auto where GPUs are visible: a GPU training
    assert ex.place(spec_on("cpu"), slots) == (spec_on("cpu"), None)  # no slot needed, even when all are taken
    cpu_only = LocalExecutor(max_workers=4, per_gpu=2, gpus=0)
    assert cpu_only.place(spec_on("auto"), GpuSlots(0, 2)) == (spec_on("auto"), None)
    # trainer.device=cuda where no GPU is visible: the training itself reports it (TrainingCrash)
    assert cpu_only.place(spec_on("cuda"), GpuSlots(0, 2)) == (spec_on("cuda"), None)
    assert wants_gpu("cuda:3", 0) and wants_gpu("auto", 1) and not wants_gpu("auto", 0) and not wants_gpu("cpu", 8)


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA machine would train")
def test_each_training_process_gets_its_gpu_as_cuda_i(tmp_path):
    """Through the real executor, child and jail: on a CPU machine told it has 2 GPUs, two trainings on cuda get
    cuda:0 and cuda:1 (and each then says there is no CUDA here)."""
    specs = [dataclasses.replace(spec_on("cuda", f"g{i}"), task="cartpole", out_dir=str(tmp_path / f"g{i}"))
             for i in range(2)]
    results = LocalExecutor(max_workers=2, timeout_s=300, per_gpu=1, gpus=2).run(specs)
    assert [r.ok for r in results] == [False, False]
    messages = sorted(r.failure.message for r in results if r.failure is not None)
    assert "trainer.device=cuda:0 but no CUDA device" in messages[0]
    assert "trainer.device=cuda:1 but no CUDA device" in messages[1]


def test_make_executor_passes_per_gpu_on():
    ex = make_executor(ExecutorConfig(per_gpu=3, max_workers=5))
    assert isinstance(ex, LocalExecutor) and ex.per_gpu == 3 and ex.max_workers == 5
    assert LocalExecutor().per_gpu == 1  # the default until measured


def test_a_gpu_training_child_sees_the_executors_cuda_visible_devices(monkeypatch):
    """The child applies the executor's CUDA_VISIBLE_DEVICES (a Ray task's GPUs) before it starts anything."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    monkeypatch.setattr("eureka.train.executor.run_job", lambda spec, report: (_ for _ in ()).throw(
        RuntimeError(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))))
    with pytest.raises(RuntimeError, match="^3$"):
        _job_main(None, spec_on("cuda:0"), {"CUDA_VISIBLE_DEVICES": "3"})
    with pytest.raises(RuntimeError, match="^<unset>$"):
        _job_main(None, spec_on("cuda:0"), {"CUDA_VISIBLE_DEVICES": None})


def test_ray_asks_for_a_share_of_a_gpu_per_training_on_cuda():
    assert task_resources(1.0, 0.0, 1, "cuda", 0) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert task_resources(2.0, 0.0, 4, "cuda", 0) == {"num_cpus": 2.0, "num_gpus": 0.25}
    assert task_resources(1.0, 0.0, 2, "auto", 8) == {"num_cpus": 1.0, "num_gpus": 0.5}  # a cluster with GPUs
    assert task_resources(1.0, 0.0, 2, "auto", 0) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert task_resources(1.0, 0.0, 2, "cpu", 8) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert task_resources(1.0, 0.5, 4, "cuda", 8) == {"num_cpus": 1.0, "num_gpus": 0.5}  # executor.gpus_per_task wins


# -- the jail on a GPU ----------------------------------------------------------------------------------------

def fake_dev(tmp_path, names):
    dev = tmp_path / "dev"
    dev.mkdir(parents=True)
    for name in names:
        (dev / name).write_text("")
    (dev / "nvidia-caps").mkdir()
    return dev


def test_cuda_device_nodes_lists_exactly_the_nvidia_nodes_that_exist(tmp_path):
    dev = fake_dev(tmp_path, ["nvidia10", "nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                              "nvidia-modeset", "nvidiafoo", "nvidia-smi", "sda", "null", "dri"])
    assert cuda_device_nodes(str(dev)) == [str(dev / n) for n in (
        "nvidia0", "nvidia1", "nvidia10", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")]
    assert cuda_device_nodes(str(fake_dev(tmp_path / "x", ["nvidiactl", "nvidia0"]))) == [
        str(tmp_path / "x" / "dev" / "nvidia0"), str(tmp_path / "x" / "dev" / "nvidiactl")]
    assert cuda_device_nodes(str(tmp_path / "none")) == []


LDCONFIG = """\
612 libs found in cache `/etc/ld.so.cache'
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
\tlibcuda.so.1 (libc6,x86-64) => /run/nvidia/driver/usr/lib/x86_64-linux-gnu/libcuda.so.1
\tlibnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1
\tlibcudart.so.12 (libc6,x86-64) => /home/u/cuda/lib64/libcudart.so.12
\tlibfoo.so (libc6,x86-64) => /somewhere/libfoo.so
"""


def test_cuda_library_dirs_are_the_driver_libraries_dirs_no_system_dir_holds():
    assert cuda_library_dirs(LDCONFIG) == ["/run/nvidia/driver/usr/lib/x86_64-linux-gnu"]
    assert cuda_library_dirs(LDCONFIG, known=()) == ["/usr/lib/x86_64-linux-gnu",
                                                     "/run/nvidia/driver/usr/lib/x86_64-linux-gnu"]
    assert cuda_library_dirs("") == []


def test_a_cuda_trainings_jail_adds_the_gpu_nodes_and_driver_dirs_and_nothing_else(tmp_path):
    dev = fake_dev(tmp_path, ["nvidia0", "nvidiactl", "nvidia-uvm", "sda"])
    cpu = jail_spec(dataclasses.replace(spec_on("cpu"), out_dir=str(tmp_path / "out")), str(dev), LDCONFIG)
    assert cpu.devices == [] and cpu.readable == []
    gpu = jail_spec(dataclasses.replace(spec_on("cuda:0"), out_dir=str(tmp_path / "out")), str(dev), LDCONFIG)
    assert gpu.devices == [str(dev / "nvidia0"), str(dev / "nvidiactl"), str(dev / "nvidia-uvm")]
    assert gpu.readable == ["/run/nvidia/driver/usr/lib/x86_64-linux-gnu"]
    assert dataclasses.replace(gpu, devices=[], readable=[]) == cpu  # nothing else differs
    assert trains_on_cuda("cuda") and trains_on_cuda("cuda:1") and not trains_on_cuda("cpu")
    # auto: a CUDA build of torch and NVIDIA nodes that exist (no CUDA call: the process forks the jail)
    assert trains_on_cuda("auto", str(dev)) == (torch.version.cuda is not None)
    assert not trains_on_cuda("auto", str(tmp_path / "no-dev"))


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="a machine with the NVIDIA driver")
def test_on_a_machine_without_nvidia_a_cuda_jail_opens_nothing_new(tmp_path):
    spec = dataclasses.replace(spec_on("cuda"), out_dir=str(tmp_path / "out"))
    assert jail_spec(spec) == JailSpec(kind="training", writable=[str((tmp_path / "out").resolve())],
                                       memory_mb=spec.memory_mb, cpu_s=spec.cpu_s, max_file_mb=spec.max_file_mb,
                                       max_open_files=256, max_tasks=spec.max_tasks, scratch_mb=spec.scratch_mb,
                                       env_allow=list(spec.env_allow))


LANDLOCK_DEVICE = """
import os, sys
from eureka.sandbox import kernel
dev, other = sys.argv[1], sys.argv[2]
kernel.install_landlock([], readable=None, devices=[dev])
fd = os.open(dev, os.O_RDWR)  # as CUDA opens its nodes: read and write, no truncation, no creation
os.write(fd, b"ok")
os.close(fd)
try:
    os.open(other, os.O_RDWR)
except PermissionError:
    print("refused")
"""


def test_landlock_lets_a_jail_write_its_device_files_and_nothing_beside_them(tmp_path):
    from eureka.sandbox import kernel

    if kernel.landlock_abi() < 1:
        pytest.skip("no Landlock on this kernel")
    dev, other = tmp_path / "nvidia0", tmp_path / "nvidia1"
    dev.write_text("")
    other.write_text("")
    out = subprocess.run([sys.executable, "-c", LANDLOCK_DEVICE, str(dev), str(other)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(Path(eureka.__file__).parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused" and dev.read_text() == "ok" and other.read_text() == ""


def test_the_gpu_ppo_settings_apply_only_on_a_gpu_simulation():
    cfg = compose("task=hopper", "trainer.backend=vector", "trainer.device=cpu")
    assert cfg.trainer.gpu_vector["num_steps"] == 24
    assert train_spec(cfg, job_id="x", mode="env").vector["num_steps"] == cfg.trainer.vector["num_steps"] == 32
    t = cfg.trainer
    assert simulates_on_gpu(t, "hopper", "cpu") is False
    assert simulates_on_gpu(compose("task=hopper", "trainer.backend=sb3").trainer, "hopper", "cuda") is False  # SB3 never does
    if warp_sim.warp_installed():
        assert simulates_on_gpu(t, "hopper", "cuda") is True
    assert simulates_on_gpu(compose("task=cartpole", "trainer.backend=vector").trainer, "cartpole", "cuda") is False


def test_a_wrong_gpu_ppo_key_is_a_config_error():
    from eureka import tasks
    from eureka.train.vector.sims import check_vector_backend

    cfg = compose("task=hopper", "trainer.backend=vector", "++trainer.gpu_vector.num_stepz=3")
    with pytest.raises(ConfigError, match="num_stepz"):
        check_vector_backend(cfg, tasks.make("hopper"))
