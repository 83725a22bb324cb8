"""Fixtures shared by the designer tests: a local OpenAI-compatible server, and a task to design for."""

import pytest

from eureka import tasks
from tests.llm.fake_server import FakeOpenAI


@pytest.fixture
def server():
    """A fresh local OpenAI-compatible HTTP server for one test."""
    with FakeOpenAI() as s:
        yield s


@pytest.fixture(scope="module")
def task():
    """The cartpole task."""
    return tasks.make("cartpole")
