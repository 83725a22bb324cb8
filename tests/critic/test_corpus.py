"""The hostile corpus: real-looking LLM answers through the real critic and a real sandbox pool.

Each ``corpus/*.md`` file starts with ``expected: <ErrorClass>`` (or ``ok``; several
acceptable classes are separated by ``|``) and the rest is the raw answer text.
Canary files sit in a root-owned temp dir and in ``/tmp/eureka-canary`` (which some
payloads target by name); they must be untouched after every case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from eureka import tasks
from eureka.critic import Critic, SandboxLimits, SandboxPool
from eureka.errors import REWARD_ERRORS
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.reward import sample_states

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.md"))
CANARY_DIR = Path("/tmp/eureka-canary")
CANARY_FILES = {"canary.txt": b"canary: do not touch\n", "log.txt": b"untouched log\n",
                "whoami": b"nobody wrote here\n"}
# Classes a candidate can only get from the sandbox run (so the worker was used, maybe recycled).
RUNTIME_CLASSES = {"RewardRuntimeError", "RewardShapeError", "NonFiniteReward", "RewardTimeout",
                   "RewardMemoryError"}


def load_case(path: Path) -> tuple[set[str], str]:
    """``({expected classes or 'ok'}, answer text)`` of one corpus file."""
    first, _, text = path.read_text().partition("\n")
    key, _, value = first.partition(":")
    assert key.strip() == "expected", f"{path.name}: first line must be 'expected: <ErrorClass>|ok'"
    expected = {v.strip() for v in value.split("|") if v.strip()}
    unknown = expected - set(REWARD_ERRORS) - {"ok"}
    assert expected and not unknown, f"{path.name}: unknown expected class(es) {sorted(unknown)}"
    return expected, text


def snapshot(dirs: list[Path]) -> dict[str, bytes]:
    """Every file (recursively) under ``dirs`` with its content."""
    out = {}
    for d in dirs:
        for p in sorted(d.rglob("*")):
            out[str(p)] = p.read_bytes() if p.is_file() else b"<dir>"
    return out


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """Canary files in a private temp dir and in /tmp/eureka-canary; yields a checker."""
    private = tmp_path_factory.mktemp("canary")
    shutil.rmtree(CANARY_DIR, ignore_errors=True)
    CANARY_DIR.mkdir()
    # World-writable on purpose: only the critic's own walls (static checks, restricted builtins,
    # the audit hook) stand between a payload and these files, not the unprivileged user.
    CANARY_DIR.chmod(0o777)
    for d in (private, CANARY_DIR):
        for name, data in CANARY_FILES.items():
            (d / name).write_bytes(data)
            (d / name).chmod(0o666)
    dirs = [private, CANARY_DIR]
    before = snapshot(dirs)
    assert len(before) == 2 * len(CANARY_FILES)

    def check(after_case: str) -> None:
        after = snapshot(dirs)
        assert sorted(after) == sorted(before), f"files appeared or vanished after {after_case}: " \
            f"{sorted(set(after) ^ set(before))}"
        changed = [k for k in before if after[k] != before[k]]
        assert not changed, f"canary files changed after {after_case}: {changed}"

    yield check
    shutil.rmtree(CANARY_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def task():
    return tasks.make("cartpole")


@pytest.fixture(scope="module")
def pool():
    p = SandboxPool(SandboxLimits(workers=2, timeout_s=3.0, cpu_s=3.0))
    p.warm_up()
    yield p
    p.close()


@pytest.fixture(scope="module")
def critic(task, pool):
    states = sample_states(task)
    assert set(states) == set(task.state_names)
    assert all(v.shape == (256,) for v in states.values())
    return Critic(task.state_names, states, pool)


@pytest.fixture(scope="module")
def valid_code(task):
    return CodeWriter(task).code(seed_genome(task))


def test_corpus_is_large_and_varied():
    assert len(CASES) >= 45
    expected = [load_case(p)[0] for p in CASES]
    assert sum(e == {"ok"} for e in expected) >= 8
    seen = set().union(*expected)
    for cls in ("RewardSyntaxError", "RewardSignatureError", "ForbiddenCode", "RewardRuntimeError",
                "RewardShapeError", "NonFiniteReward", "RewardTimeout", "RewardMemoryError"):
        assert cls in seen, f"no corpus case expects {cls}"


# Ways past the allow-list that the static checks follow (issue 16): each has an answer expecting ForbiddenCode.
BYPASS_CLASSES = {
    "module bound to a name": "hostile_module_bound_to_name", "default argument": "hostile_module_default_argument",
    "container": "hostile_module_in_container", "call argument": "hostile_module_call_argument",
    "return": "hostile_module_returned", "lambda and walrus": "hostile_module_lambda_walrus",
    "comprehension": "hostile_module_comprehension", "expression": "hostile_module_conditional_expression",
    "re-exported module attribute": "hostile_submodule_reexport",
    "format field walking attributes": "hostile_format_field_attribute_walk",
    "format_map field walking indexes": "hostile_format_map_index_walk",
    "template built at run time": "hostile_format_template_built",
}


def test_corpus_covers_every_static_bypass_class():
    for what, stem in BYPASS_CLASSES.items():
        path = CORPUS / f"{stem}.md"
        assert path.exists(), f"no corpus answer for a module or format bypass: {what}"
        assert load_case(path)[0] == {"ForbiddenCode"}, path.name


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path, critic, canaries, valid_code):
    expected, text = load_case(path)
    verdict = critic.check_answer(text)
    got = verdict.error_class or "ok"
    assert got in expected, f"{path.name}: expected {sorted(expected)}, got {got}: {verdict.message}"
    if verdict.ok:
        assert verdict.error_class is None
        assert "def compute_reward" in verdict.code
        assert verdict.components, verdict.check
    else:
        assert verdict.message.strip(), f"{path.name}: rejected without a message"
        assert verdict.error_class in verdict.feedback()
        assert verdict.hint
    if path.stem.startswith("torchscript_"):
        assert "TorchScript" in verdict.message, verdict.message
    canaries(path.name)
    if got == "ok" or got in RUNTIME_CLASSES:
        # The candidate ran in a worker (which was recycled if it failed): the pool still works.
        assert critic.check_code(valid_code).ok


def test_pool_still_works_after_corpus(critic, canaries, valid_code, pool):
    canaries("the whole corpus")
    for _ in range(3):
        verdict = critic.check_code(valid_code)
        assert verdict.ok, verdict.feedback()
    assert "audit" in pool.walls
    if os.geteuid() == 0:
        assert "own-uid" in pool.walls
