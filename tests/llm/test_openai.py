"""The ``openai`` designer against a real local OpenAI-compatible HTTP server (no monkeypatched client)."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from eureka.critic.extract import extract_code
from eureka.errors import LLMBudgetExceeded, LLMError
from eureka.llm import DesignRequest, ManagedDesigner, ReplayDesigner, make_designer
from eureka.llm.openai_llm import OpenAIDesigner
from eureka.paths import conf_dir
from eureka.prompts import build_messages
from tests.llm.fake_server import GOOD_KEY, FakeOpenAI

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_ambient_openai_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def request3(task) -> DesignRequest:
    return DesignRequest(task, build_messages(task), n=3, iteration=0)


def designer(server: FakeOpenAI, **kw) -> OpenAIDesigner:
    opts = {"model": "test-model", "base_url": server.base_url, "api_key": GOOD_KEY, "temperature": 0.7,
            "timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.01}
    opts.update(kw)
    return OpenAIDesigner(**opts)


# -- n and fallbacks ---------------------------------------------------------------------------------------
def test_n_is_honoured_in_one_request(server, request3):
    d = designer(server)
    answers = d.propose(request3)
    assert len(answers) == 3
    assert len(server.requests) == 1
    body = server.bodies[0]
    assert body["n"] == 3
    assert body["model"] == "test-model"
    assert body["temperature"] == pytest.approx(0.7)
    assert body["messages"] == request3.messages
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "max_tokens" not in body
    assert len({a.text for a in answers}) == 3, "each choice is a different sample"
    assert [a.text for a in answers] == [c["message"]["content"] for c in server.responses[0]["choices"]]
    assert d.usage.requests == 1


def test_max_tokens_is_sent_when_set(server, request3):
    designer(server, max_tokens=256).propose(request3)
    assert server.bodies[0]["max_tokens"] == 256


def test_use_n_false_sends_one_request_per_sample(server, request3):
    d = designer(server, use_n=False)
    answers = d.propose(request3)
    assert len(answers) == 3
    assert len(server.requests) == 3
    assert all(b.get("n", 1) == 1 for b in server.bodies)
    assert d.usage.requests == 3


def test_falls_back_to_single_requests_when_the_server_rejects_n(server, request3):
    server.configure(no_n=True)
    d = designer(server)
    answers = d.propose(request3)
    assert len(answers) == 3 and all("def compute_reward" in a.text for a in answers)
    ns = [b.get("n", 1) for b in server.bodies]
    assert ns == [3, 1, 1, 1]
    assert d.usage.requests == 3  # the rejected request carries no tokens
    assert d.use_n is False
    # the designer remembers: the next iteration does not ask for n again
    d.propose(request3)
    assert [b.get("n", 1) for b in server.bodies[4:]] == [1, 1, 1]


def test_tops_up_with_single_requests_when_the_server_returns_fewer_choices(server, request3):
    server.configure(fewer_choices=True)
    d = designer(server)
    answers = d.propose(request3)
    assert len(answers) == 3 and all(a.text.strip() for a in answers)
    assert [b.get("n", 1) for b in server.bodies] == [3, 1, 1]
    assert d.usage.requests == 3


def test_single_sample_request_sends_no_n(server, task):
    d = designer(server)
    answers = d.propose(DesignRequest(task, build_messages(task), n=1, iteration=0))
    assert len(answers) == 1 and "n" not in server.bodies[0]


# -- token accounting --------------------------------------------------------------------------------------
def test_token_accounting_matches_what_the_server_reported(server, request3, task):
    d = designer(server)
    first = d.propose(request3)
    reported = server.usage_reported[0]
    assert reported["prompt_tokens"] > 0 and reported["completion_tokens"] > 0
    # the request's tokens are charged once (to the first answer), not once per choice
    assert first[0].prompt_tokens == reported["prompt_tokens"]
    assert first[0].completion_tokens == reported["completion_tokens"]
    assert all(a.prompt_tokens == 0 and a.completion_tokens == 0 for a in first[1:])
    errs = DesignRequest(task, build_messages(task, errors=["[iter0_sample0] RewardSyntaxError: x"]), n=2,
                         iteration=1)
    second = d.propose(errs)
    assert d.usage.requests == 2
    assert d.usage.prompt_tokens == sum(u["prompt_tokens"] for u in server.usage_reported)
    assert d.usage.completion_tokens == sum(u["completion_tokens"] for u in server.usage_reported)
    assert sum(a.prompt_tokens for a in first + second) == d.usage.prompt_tokens
    assert sum(a.completion_tokens for a in first + second) == d.usage.completion_tokens
    u = d.usage.to_dict()
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"]) == \
        (2, d.usage.prompt_tokens, d.usage.completion_tokens)


def managed(server, tmp_path, **kw) -> ManagedDesigner:
    cfg = _llm_cfg(model="gpt-4o-mini", base_url=server.base_url, api_key=GOOD_KEY, cache_dir=str(tmp_path),
                   timeout_s=5, max_retries=1, **kw)
    return make_designer(cfg)


def test_token_budget_stops_before_it_would_be_exceeded(server, request3, tmp_path):
    d = managed(server, tmp_path, max_tokens=600, budget={"max_tokens": 4500})
    assert len(d.propose(request3)) == 3  # estimated ~920 + 3 x 600 tokens: fits
    first = d.usage.total_tokens
    assert 0 < first < 4500
    other = DesignRequest(request3.task, build_messages(request3.task, notes=["x"]), n=3, iteration=1)
    with pytest.raises(LLMBudgetExceeded, match="max_tokens=4500 reached.*left unasked: 1 of 1 request"):
        d.propose(other)
    assert len(server.requests) == 1, "no request is sent once the budget could be exceeded"
    assert issubclass(LLMBudgetExceeded, LLMError)


def test_cost_budget_uses_the_price_table(server, request3, tmp_path):
    d = managed(server, tmp_path, max_tokens=600, budget={"max_usd": 0.0015})
    d.propose(request3)
    u = d.usage
    assert u.usd == pytest.approx((u.prompt_tokens * 0.15 + u.completion_tokens * 0.60) / 1e6)
    row = u.to_dict()["per_iteration"][0]
    assert row["iteration"] == 0 and row["usd"] == pytest.approx(u.usd)


def test_cost_budget_without_a_price_is_a_config_error(server, tmp_path):
    from eureka.errors import ConfigError

    cfg = _llm_cfg(model="unpriced-model", base_url=server.base_url, api_key=GOOD_KEY, cache_dir=str(tmp_path),
                   budget={"max_usd": 1.0})
    with pytest.raises(ConfigError, match="llm.prices.unpriced-model"):
        make_designer(cfg)


def test_concurrency_bounds_parallel_requests(server, task, tmp_path):
    server.configure(hang_s=0.5)
    d = managed(server, tmp_path, concurrency=2)
    reqs = [DesignRequest(task, build_messages(task, notes=[f"note {i}"]), n=1, iteration=0) for i in range(4)]
    import time

    t0 = time.monotonic()
    out = d.propose_many(reqs)
    elapsed = time.monotonic() - t0
    assert [len(a) for a in out] == [1, 1, 1, 1] and len(server.requests) == 4
    assert 0.95 <= elapsed < 1.9, elapsed  # 4 requests of 0.5 s, two at a time


def test_rate_limit_honours_retry_after(server, request3):
    import time

    server.configure(fail_times=1, fail_status=429, retry_after_ms=None, retry_after_s=1)
    t0 = time.monotonic()
    assert len(designer(server).propose(request3)) == 3
    assert time.monotonic() - t0 >= 1.0
    assert len(server.requests) == 2


def test_unlimited_budget_by_default(server, request3):
    d = designer(server)
    for _ in range(3):
        d.propose(request3)
    assert d.usage.requests == 3


# -- transient server errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 429])
def test_retries_on_server_errors_then_succeeds(server, request3, status):
    server.configure(fail_times=2, fail_status=status)
    d = designer(server, max_retries=2)
    answers = d.propose(request3)
    assert len(answers) == 3
    assert len(server.requests) == 3  # two failures, then the answer
    assert d.usage.requests == 1


def test_retry_uses_the_sdk_backoff_without_retry_after(server, request3):
    server.configure(fail_times=1, fail_status=503, retry_after_ms=None)
    t0 = time.monotonic()
    answers = designer(server, max_retries=1).propose(request3)
    assert len(answers) == 3 and len(server.requests) == 2
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("status", [500, 429])
def test_persistent_server_errors_raise_llm_error(server, request3, status):
    server.configure(fail_times=True, fail_status=status)
    d = designer(server, max_retries=2)
    with pytest.raises(LLMError) as info:
        d.propose(request3)
    msg = str(info.value)
    assert server.base_url in msg and f"HTTP {status}" in msg and "2 retries" in msg
    assert "\n" not in msg
    assert len(server.requests) == 3
    assert d.usage.requests == 0


# -- timeouts and connection failures ----------------------------------------------------------------------
def test_hang_beyond_timeout_raises_llm_error_naming_the_server(server, request3):
    server.configure(hang_s=10)
    d = designer(server, timeout_s=0.3, max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        d.propose(request3)
    elapsed = time.monotonic() - t0
    msg = str(info.value)
    assert server.base_url in msg
    assert "timed out" in msg.lower()
    assert "\n" not in msg
    assert elapsed < 5, f"the timeout was not honoured ({elapsed:.1f} s)"
    assert len(server.requests) == 2  # the first try and one retry


def test_slow_answer_within_timeout_succeeds(server, request3):
    server.configure(hang_s=0.3)
    assert len(designer(server, timeout_s=5).propose(request3)) == 3


def test_dropped_connection_raises_llm_error_after_retries(server, request3):
    server.configure(drop=True)
    d = designer(server, max_retries=2)
    with pytest.raises(LLMError) as info:
        d.propose(request3)
    msg = str(info.value)
    assert server.base_url in msg and "2 retries" in msg and "\n" not in msg
    assert len(server.requests) == 3


def test_dropped_connection_once_recovers(server, request3):
    server.configure(drop=1)
    assert len(designer(server).propose(request3)) == 3
    assert len(server.requests) == 2


def test_unreachable_server_raises_llm_error(request3):
    from tests.llm.fake_server import closed_port

    url = f"http://127.0.0.1:{closed_port()}/v1"
    d = OpenAIDesigner("test-model", base_url=url, api_key=GOOD_KEY, timeout_s=2, max_retries=0)
    with pytest.raises(LLMError, match="cannot reach the LLM server") as info:
        d.propose(request3)
    assert url in str(info.value)


# -- malformed and empty answers ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["malformed", "bad_shape"])
def test_malformed_answers_are_retried_then_raise(server, request3, mode):
    server.configure(**{mode: True})
    d = designer(server, max_retries=2, backoff_s=0.01)
    with pytest.raises(LLMError) as info:
        d.propose(request3)
    msg = str(info.value)
    assert "malformed" in msg and server.base_url in msg and "3 times" in msg and "\n" not in msg
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", ["malformed", "bad_shape"])
def test_malformed_answer_once_recovers(server, request3, mode):
    server.configure(**{mode: 1})
    d = designer(server, backoff_s=0.01)
    answers = d.propose(request3)
    assert len(answers) == 3 and all("def compute_reward" in a.text for a in answers)
    assert len(server.requests) == 2
    assert d.usage.requests == 1


def test_malformed_backoff_does_not_sleep_after_the_last_attempt(server, request3):
    server.configure(malformed=True)
    d = designer(server, max_retries=1, backoff_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(LLMError):
        d.propose(request3)
    assert time.monotonic() - t0 < 1.9  # one 1 s backoff between the two attempts, none after


def test_empty_answer_is_retried_once(server, request3):
    server.configure(empty=1)  # the first choice of the n=3 request is empty
    d = designer(server)
    answers = d.propose(request3)
    assert len(answers) == 3 and all(a.text.strip() for a in answers)
    assert [b.get("n", 1) for b in server.bodies] == [3, 1]
    assert d.usage.requests == 2
    assert d.usage.prompt_tokens == sum(u["prompt_tokens"] for u in server.usage_reported)
    assert answers[0].prompt_tokens == d.usage.prompt_tokens  # the retry's cost goes to the answer it fixed


def test_empty_answers_are_retried_only_once_each(server, request3):
    server.configure(empty=True)
    d = designer(server)
    answers = d.propose(request3)
    assert [a.text for a in answers] == ["", "", ""]
    assert len(server.requests) == 4  # the n=3 request and one retry per empty choice, no more
    with pytest.raises(Exception, match="empty"):
        extract_code(answers[0].text)


# -- keys --------------------------------------------------------------------------------------------------
def test_wrong_api_key_raises_llm_error_mentioning_the_key(server, request3):
    server.configure(unauthorized=True)
    d = designer(server, api_key="wrong-key")
    with pytest.raises(LLMError) as info:
        d.propose(request3)
    msg = str(info.value)
    assert "API key" in msg and "401" in msg and server.base_url in msg and "\n" not in msg
    assert len(server.requests) == 1, "a 401 is not retried"
    assert server.requests[0]["headers"]["authorization"] == "Bearer wrong-key"


def test_good_api_key_is_sent_as_bearer(server, request3):
    server.configure(unauthorized=True)
    assert len(designer(server).propose(request3)) == 3
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {GOOD_KEY}"


def test_key_and_base_url_from_the_environment(server, request3, monkeypatch):
    server.configure(unauthorized=True)
    monkeypatch.setenv("OPENAI_API_KEY", GOOD_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    d = OpenAIDesigner("test-model", timeout_s=5, max_retries=0)
    assert d.where == server.base_url
    assert len(d.propose(request3)) == 3


def test_local_server_needs_no_key(server, request3):
    d = OpenAIDesigner("test-model", base_url=server.base_url, timeout_s=5, max_retries=0)
    assert len(d.propose(request3)) == 3


def test_no_key_and_no_base_url_is_a_clear_error():
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        OpenAIDesigner("gpt-4o-mini")


# -- answers are usable --------------------------------------------------------------------------------------
def test_answers_go_through_extract_code(server, request3, task):
    answers = designer(server).propose(request3)
    for a in answers:
        code = extract_code(a.text)
        tree = ast.parse(code)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward")
        params = [p.arg for p in fn.args.args]
        assert params and set(params) <= set(task.state_names)
        assert "torch.exp(-pole_angle ** 2" in code
        assert "Why these components" not in code  # the prose stays out


# -- cache and replay --------------------------------------------------------------------------------------
def _llm_cfg(**over):
    """The ``llm`` group as the app composes it: the schema's defaults, then ``llm/openai.yaml``, then ``over``."""
    from eureka.config import LLMConfig

    cfg = OmegaConf.structured(LLMConfig)
    cfg.merge_with(OmegaConf.load(Path(conf_dir()) / "llm" / "openai.yaml"), over)
    return cfg


def test_make_designer_caches_answers_and_replay_returns_them(server, request3, tmp_path):
    cfg = _llm_cfg(model="test-model", base_url=server.base_url, api_key=GOOD_KEY, temperature=0.5,
                   cache_dir=str(tmp_path), timeout_s=5, max_retries=1, cache="shared")
    d = make_designer(cfg)
    assert isinstance(d, ManagedDesigner)
    answers = d.propose(request3)
    assert d.usage.requests == 1 and d.usage.prompt_tokens > 0
    assert len(list(tmp_path.glob("*.json"))) == 3

    replay_cfg = OmegaConf.merge(cfg, {"provider": "replay"})
    r = make_designer(replay_cfg)
    assert isinstance(r.inner, ReplayDesigner)  # wrapped: what it replays is recorded in the run, too
    replayed = r.propose(request3)
    assert [a.text for a in replayed] == [a.text for a in answers]
    assert all(a.cached for a in replayed)
    assert len(server.requests) == 1, "replay never calls the server"


def test_replay_misses_are_a_clear_error(server, request3, task, tmp_path):
    cfg = _llm_cfg(model="test-model", base_url=server.base_url, api_key=GOOD_KEY, cache_dir=str(tmp_path),
                   cache="shared")
    make_designer(cfg).propose(request3)
    r = make_designer(OmegaConf.merge(cfg, {"provider": "replay"}))
    other = DesignRequest(task, build_messages(task, notes=["more upright"]), n=1, iteration=1)
    with pytest.raises(LLMError, match="no recorded answer"):
        r.propose(other)
    different_temp = make_designer(OmegaConf.merge(cfg, {"provider": "replay", "temperature": 0.2}))
    with pytest.raises(LLMError, match="no recorded answer"):
        different_temp.propose(request3)
