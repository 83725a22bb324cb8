"""``llm.budget.max_usd`` is a ceiling: every request is estimated before it is sent (local server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from eureka.errors import ConfigError, LLMBudgetExceeded
from eureka.llm import DesignRequest, make_designer
from eureka.llm.budget import estimate_prompt_tokens
from eureka.paths import conf_dir
from eureka.prompts import build_messages
from tests.llm.fake_server import GOOD_KEY, FakeOpenAI

pytestmark = pytest.mark.timeout(60)
PRICES = {"prompt": 0.15, "completion": 0.60}  # gpt-4o-mini's, USD per 1M tokens


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def designer(server: FakeOpenAI, tmp_path: Path, **over):
    from eureka.config import LLMConfig

    c = OmegaConf.structured(LLMConfig)
    c.merge_with(OmegaConf.load(Path(conf_dir()) / "llm" / "openai.yaml"),
                 {"model": "gpt-4o-mini", "base_url": server.base_url, "api_key": GOOD_KEY, "timeout_s": 5,
                  "max_retries": 1}, over)
    return make_designer(c, seed=0, run_dir=tmp_path / "run")


def server_cost(server: FakeOpenAI) -> float:
    """What the server billed, from the usage it reported."""
    return sum(u["prompt_tokens"] * PRICES["prompt"] + u["completion_tokens"] * PRICES["completion"]
               for u in server.usage_reported) / 1e6


def requests_of(task, it: int, parents: int = 2, n: int = 2) -> list[DesignRequest]:
    return [DesignRequest(task, build_messages(task, notes=[f"iteration {it}, parent {p}"]), n=n, iteration=it,
                          seed=1000 * p) for p in range(parents)]


@pytest.mark.parametrize("max_usd,concurrency", [(0.004, 1), (0.004, 2), (0.0025, 4)])
def test_spend_never_exceeds_max_usd(task, tmp_path, max_usd, concurrency):
    with FakeOpenAI() as server:
        d = designer(server, tmp_path, max_tokens=600, concurrency=concurrency, budget={"max_usd": max_usd})
        stopped = None
        for it in range(20):
            try:
                d.propose_many(requests_of(task, it))
            except LLMBudgetExceeded as exc:
                stopped = str(exc)
                break
            if d.refused is not None:
                stopped = str(d.refused)
                break
        assert stopped is not None, "the budget never stopped the run"
        assert server_cost(server) <= max_usd, (server_cost(server), max_usd)
        assert d.usage.usd == pytest.approx(server_cost(server))
        assert server_cost(server) > max_usd / 3, "the budget was mostly used"
        assert "llm.budget.max_usd" in stopped and "left unasked:" in stopped and "\n" not in stopped
        assert d.usage.to_dict()["unasked"]["samples"] >= 2


def test_the_first_request_is_estimated_too(task, tmp_path):
    """Issue 20: with no estimate for the first request, max_usd=0.004 let a run spend $0.0066."""
    with FakeOpenAI() as server:
        d = designer(server, tmp_path, max_tokens=4000, budget={"max_usd": 0.004})
        big = DesignRequest(task, build_messages(task), n=4, iteration=0)  # 4 x 4000 tokens could cost $0.0096
        with pytest.raises(LLMBudgetExceeded, match=r"left unasked: 1 of 1 request\(s\) \(4 sample"):
            d.propose(big)
        assert server.requests == []


def test_prompt_estimate_is_an_upper_bound_of_what_the_server_counts(task):
    with FakeOpenAI() as server:
        messages = build_messages(task)
        designer_ = designer(server, Path("/nonexistent-unused"), max_tokens=10)
        designer_.run_record = None
        designer_.propose(DesignRequest(task, messages, n=1, iteration=0))
        assert server.usage_reported[0]["prompt_tokens"] <= estimate_prompt_tokens(messages)


def test_answers_are_cut_at_max_tokens_by_the_server(task, tmp_path):
    with FakeOpenAI() as server:
        d = designer(server, tmp_path, max_tokens=50, budget={"max_usd": 1.0})
        d.propose(DesignRequest(task, build_messages(task), n=2, iteration=0))
        assert server.bodies[0]["max_tokens"] == 50
        assert server.usage_reported[0]["completion_tokens"] <= 2 * 50


def test_a_budget_needs_a_bound_on_answers(tmp_path):
    with FakeOpenAI() as server, pytest.raises(ConfigError, match="llm.max_tokens"):
        designer(server, tmp_path, model="my-model", prices={"my-model": {"prompt": 1.0, "completion": 2.0}},
                 budget={"max_usd": 1.0})
