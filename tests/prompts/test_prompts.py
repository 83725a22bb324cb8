"""Prompt rendering: the task with its state table, then the parent's answer and the feedback."""

from eureka import tasks
from eureka.prompts import build_messages, task_prompt


def test_first_prompt_shows_the_task_and_its_state_table():
    task = tasks.make("cartpole")
    text = task_prompt(task)
    assert "| pole_angle | [N] | rad |" in text and task.fitness.description in text
    messages = build_messages(task)
    assert [m["role"] for m in messages] == ["system", "user"]


def test_later_prompts_carry_the_parent_reflection_errors_and_notes():
    task = tasks.make("cartpole")
    messages = build_messages(task, "```python\ndef compute_reward(...)```", "upright: [1.00, 0.90]",
                              ["[iter0_sample1] RewardShapeError (line 4 of the reward code): shape [N, 1]"],
                              ["more pole_angle"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    feedback = messages[-1]["content"]
    assert "upright: [1.00, 0.90]" in feedback and "line 4 of the reward code" in feedback
    assert "- more pole_angle" in feedback
