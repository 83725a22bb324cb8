"""The tuning operator: constants lifted on the syntax tree, CMA-ES trials, a tuned child with its parent."""

import json
import re

from eureka.evolve import EurekaLoop
from eureka.evolve.tuning import genome_with_weights, lift_constants
from eureka.llm import Answer, Designer
from tests.evolve.test_loop import make_cfg
from tests.evolve.test_loop_logic import StubExecutor

CODE = '''import torch
from typing import Dict, Tuple


@torch.jit.script
def compute_reward(pole_angle: torch.Tensor, cart_velocity: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    upright = 0.5 * torch.exp(-pole_angle ** 2 / 0.1)
    calm = -0.01 * torch.linalg.vector_norm(cart_velocity.unsqueeze(-1), dim=-1)
    keep = 1.0 - torch.clamp(torch.abs(pole_angle), min=0.0, max=1.0)
    return upright + calm + keep, {"upright": upright, "calm": calm, "keep": keep}
'''


def test_constants_are_lifted_but_not_structure():
    lifted = lift_constants(CODE)
    assert [(p.where, p.value, p.weight) for p in lifted.params] == [
        ("upright", 0.5, True), ("upright", 0.1, False), ("calm", 0.01, True)]
    code = lifted.render([2.0, 0.3, 0.02])
    assert "    UPRIGHT_K0 = 2.0\n    UPRIGHT_K1 = 0.3\n    CALM_K2 = 0.02\n    upright = " in code
    assert "UPRIGHT_K0 * torch.exp(-pole_angle ** 2 / UPRIGHT_K1)" in code
    assert "-CALM_K2 *" in code and "dim=-1" in code and "1.0 - torch.clamp" in code and "max=1.0" in code
    assert [p.name for p in lift_constants(CODE, max_params=2).params] == ["UPRIGHT_K0", "CALM_K1"]  # weights first


def test_offline_genome_weights_follow_the_tuned_constants():
    line = '# eureka-genome: [{"name":"upright","kind":"tolerance","weight":0.5},{"name":"calm","kind":"alive"}]'
    lifted = lift_constants(CODE)
    out = genome_with_weights(line, lifted.params, [2.0, 0.3, 0.02])
    terms = json.loads(out.split(": ", 1)[1])
    assert terms[0]["weight"] == 2.0 and terms[1].get("weight", 1.0) == 0.02


class OneCode(Designer):
    name, model = "test", "one"

    def propose(self, request):
        return [Answer(f"```python\n{CODE}```") for _ in range(request.n)]


def fitness_of(sp):
    """Fitness peaks when the upright weight (the first tuned constant) is 1.5; seed-independent."""
    text = open(sp.reward_path).read() if sp.reward_path else ""
    m = re.search(r"^    UPRIGHT_K0 = ([0-9.e+-]+)", text, re.M)
    w = float(m.group(1)) if m else 0.5
    return 100.0 - 40.0 * (w - 1.5) ** 2


def test_a_tuned_child_has_its_parent_and_the_next_prompt_shows_the_gain(tmp_path):
    cfg = make_cfg(iterations=2, samples=1, eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None, "tuning": {"enabled": True, "trials": 8, "ratio": 4.0}})
    executor = StubExecutor(fitness_of)
    loop = EurekaLoop(cfg, tmp_path, designer=OneCode(), executor=executor)
    summary = loop.run().to_dict()
    rows = {r["id"]: r for it in summary["iterations"] for r in it["candidates"]}
    child = rows["iter0_tuned"]
    assert child["parent"] == "iter0_sample0" and child["status"] == "ok"
    t = child["tuning"]
    assert t["trials"] == 8 and t["seeds"] == [0] and t["gain"] > 0 and t["after"] > t["before"]
    assert [c["name"] for c in t["constants"]][0] == "UPRIGHT_K0" and t["constants"][0]["before"] == 0.5
    assert sum(1 for sp in executor.specs if sp.job_id.startswith("iter0_tuned_trial")) == 8
    assert len(child["search_seeds"]) == 2, "the tuned child was raced on a fresh seed like any candidate"
    prompt = json.loads((tmp_path / "candidates" / "iter1_sample0" / "prompt.json").read_text())[-1]["content"]
    assert "were tuned" in prompt and "UPRIGHT_K0" in prompt and f"gain {t['gain']:+.4g}" in prompt
    lines = (tmp_path / "candidates" / "iter0_tuned" / "reward.py").read_text().splitlines()
    imports = [ln for ln in lines if ln.startswith(("import ", "from "))]
    assert len(imports) == len(set(imports)) and "from typing import Dict, Tuple" not in imports


def test_tuning_steps_count_in_the_search_budget(tmp_path):
    cfg = make_cfg(iterations=1, samples=1, trainer={"total_timesteps": 1000}, eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None, "tuning": {"enabled": True, "trials": 4, "fraction": 0.5}})
    executor = StubExecutor(fitness_of)
    summary = EurekaLoop(cfg, tmp_path, designer=OneCode(), executor=executor).run().to_dict()
    search = [sp for sp in executor.specs if sp.job_id.startswith("iter0")]
    assert summary["search_env_steps"] == sum(sp.total_timesteps for sp in search)
    trials = [sp for sp in search if "_trial" in sp.job_id]
    assert len(trials) == 4 and all(sp.total_timesteps == 500 for sp in trials)
    confirm = [sp for sp in search if sp.job_id == "iter0_tuned_seed0"]
    assert len(confirm) == 1 and confirm[0].total_timesteps == 1000  # the tuned reward at the parent's budget
