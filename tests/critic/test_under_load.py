"""Valid rewards pass the critic while both cores are busy: runaway code is judged by CPU time."""

from __future__ import annotations

import subprocess
import sys

from eureka.critic import Critic, SandboxLimits, SandboxPool
from tests.critic.test_corpus import CASES, load_case


def test_valid_rewards_pass_with_both_cores_loaded(cartpole, cartpole_states):
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        ok_cases = [load_case(p)[1] for p in CASES if p.name.startswith("ok_")]
        assert len(ok_cases) >= 10
        with SandboxPool(SandboxLimits(workers=2)) as pool:  # the defaults: 5 CPU s, 60 s wall backstop
            critic = Critic(cartpole.state_names, cartpole_states, pool)
            for text in ok_cases:
                verdict = critic.check_answer(text)
                assert verdict.ok, verdict.feedback()
    finally:
        for p in busy:
            p.kill()
            p.wait()
