"""A run's answers are its own: the shared cache is opt-in and keyed by server, seed and request.

Real openai SDK against the local fake server; requests are counted on the server side.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from eureka.errors import ConfigError
from eureka.llm import DesignRequest, make_designer
from eureka.paths import conf_dir
from eureka.prompts import build_messages
from tests.llm.fake_server import GOOD_KEY, FakeOpenAI

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EUREKA_CACHE_DIR", str(tmp_path / "shared-cache"))


def cfg(server: FakeOpenAI, **over):
    from eureka.config import LLMConfig

    c = OmegaConf.structured(LLMConfig)
    c.merge_with(OmegaConf.load(Path(conf_dir()) / "llm" / "openai.yaml"),
                 {"model": "test-model", "base_url": server.base_url, "api_key": GOOD_KEY, "timeout_s": 5,
                  "max_retries": 1}, over)
    return c


def request(task, seed: int = 0, iteration: int = 0) -> DesignRequest:
    return DesignRequest(task, build_messages(task), n=2, iteration=iteration, seed=seed)


def texts(answers) -> list[str]:
    return [a.text for a in answers]


def test_by_default_runs_share_nothing(server, task, tmp_path):
    a = make_designer(cfg(server), seed=0, run_dir=tmp_path / "a").propose(request(task))
    b = make_designer(cfg(server), seed=0, run_dir=tmp_path / "b").propose(request(task))
    assert len(server.requests) == 2, "each run asks the server itself"
    assert texts(a) != texts(b), "independent samples"
    assert not (tmp_path / "shared-cache").exists(), "nothing is written to the shared cache by default"


def test_shared_cache_same_seed_same_answers_other_seed_independent(server, task, tmp_path):
    shared = cfg(server, cache="shared")
    first = make_designer(shared, seed=0, run_dir=tmp_path / "a").propose(request(task, seed=0))
    again = make_designer(shared, seed=0, run_dir=tmp_path / "b").propose(request(task, seed=0))
    assert len(server.requests) == 1 and texts(again) == texts(first)
    assert all(a.cached for a in again)
    other = make_designer(shared, seed=1, run_dir=tmp_path / "c").propose(request(task, seed=1))
    assert len(server.requests) == 2, "another seed is another sample"
    assert texts(other) != texts(first)
    # the answer served from the shared cache was written into run b's own directory before it was used
    recorded = sorted(json.loads(p.read_text())["text"] for p in (tmp_path / "b" / "answers").glob("*.json"))
    assert recorded == sorted(texts(first))
    assert {json.loads(p.read_text())["source"] for p in (tmp_path / "b" / "answers").glob("*.json")} == \
        {"shared-cache"}


def test_shared_cache_key_holds_the_server(task, tmp_path):
    with FakeOpenAI() as one, FakeOpenAI() as two:
        make_designer(cfg(one, cache="shared"), seed=0, run_dir=tmp_path / "a").propose(request(task))
        make_designer(cfg(two, cache="shared"), seed=0, run_dir=tmp_path / "b").propose(request(task))
        assert len(one.requests) == 1 and len(two.requests) == 1, "same model name, other server: asked again"


def test_resume_uses_the_run_record_with_an_empty_shared_cache(server, task, tmp_path, monkeypatch):
    shared = cfg(server, cache="shared")
    make_designer(shared, seed=0, run_dir=tmp_path / "warm").propose(request(task))  # an earlier run
    first = make_designer(shared, seed=0, run_dir=tmp_path / "run").propose(request(task))
    assert len(server.requests) == 1
    monkeypatch.setenv("EUREKA_CACHE_DIR", str(tmp_path / "empty"))  # another machine
    resumed = make_designer(shared, seed=0, run_dir=tmp_path / "run").propose(request(task))
    assert texts(resumed) == texts(first) and len(server.requests) == 1, "nothing asked again"


def test_the_same_prompt_in_a_later_iteration_is_a_new_request(server, task, tmp_path):
    d = make_designer(cfg(server), seed=0, run_dir=tmp_path / "run")
    d.propose(request(task, iteration=0))
    d.propose(request(task, iteration=1))
    assert len(server.requests) == 2


def test_replay_needs_a_run_or_the_shared_cache(server):
    with pytest.raises(ConfigError, match="llm.replay_from"):
        make_designer(cfg(server, provider="replay"))
    with pytest.raises(ConfigError, match="llm.cache=sharde"):
        make_designer(cfg(server, cache="sharde"))
