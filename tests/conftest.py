"""Shared fixtures: real tasks, real state batches, a real sandbox pool."""

from __future__ import annotations

import signal

import pytest

from eureka import tasks
from eureka.critic import Critic, SandboxLimits, SandboxPool
from eureka.reward import compiled, sample_states

# The test process loads rewards the tests wrote themselves (trusted code); candidate code from
# the corpus only ever runs in walled children. tests/test_walls.py checks the refusal without this.
compiled.TRUST_UNWALLED = True

# Started in the background from a non-interactive shell (`make test &`, nohup), this process inherits
# SIGINT ignored, and so would every `eureka` the tests start: the Ctrl-C tests could not send one.
# A handler (rather than "ignore") is reset to the default in children, so they get Python's usual Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def cartpole():
    return tasks.make("cartpole")


@pytest.fixture(scope="session")
def cartpole_states(cartpole):
    return sample_states(cartpole, n_envs=4, steps=16, seed=0)


@pytest.fixture(scope="session")
def pool():
    with SandboxPool(SandboxLimits(workers=2, timeout_s=3.0, cpu_s=3.0)) as p:
        yield p


@pytest.fixture()
def critic(cartpole, cartpole_states, pool):
    return Critic(cartpole.state_names, cartpole_states, pool)


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory):
    """One small real ``eureka`` run (offline cartpole, 2 iterations x 2 samples, video, baselines, two final
    seeds), shared by every test that only reads a finished run: tests/test_cli.py and tests/report/."""
    from tests.report.conftest import real_run

    return real_run(tmp_path_factory.mktemp("report") / "run")
