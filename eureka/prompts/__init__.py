"""Render the prompt templates of ``prompts/`` into chat messages."""

from __future__ import annotations

from string import Template

from eureka.paths import prompts_dir
from eureka.tasks import Task


def template(name: str) -> Template:
    """The template ``prompts/<name>.txt``."""
    return Template((prompts_dir() / f"{name}.txt").read_text())


def render(name: str, **values: str) -> str:
    """Fill template ``name`` with ``values`` (``$key`` placeholders)."""
    return template(name).substitute(**values).strip()


def task_prompt(task: Task) -> str:
    """The user message that describes the task, its state table and its fitness."""
    return render("task", task_name=task.name, description=task.description,
                  state_table=task.state_table(), fitness=task.fitness.description)


def build_messages(task: Task, parent_answer: str | None = None, reflection: str | None = None,
                   errors: list[str] | None = None, notes: list[str] | None = None,
                   tuning: str | None = None) -> list[dict]:
    """Messages for one request: system + task, then the parent's answer and its feedback, if any
    (``tuning``: what the last tuning of a reward's constants did, ``eureka.evolve.tuning.tuning_note``)."""
    messages = [{"role": "system", "content": render("system")},
                {"role": "user", "content": task_prompt(task)}]
    feedback = []
    if parent_answer and reflection:
        messages.append({"role": "assistant", "content": parent_answer})
        feedback.append(render("reflection", reflection=reflection))
    if errors:
        feedback.append(render("code_error", errors="\n\n".join(errors)))
    if tuning:
        feedback.append(tuning)
    if notes:
        feedback.append(render("human_feedback", notes="\n".join(f"- {n}" for n in notes)))
    if feedback:
        messages.append({"role": "user", "content": "\n\n".join(feedback)})
    return messages


__all__ = ["build_messages", "render", "task_prompt", "template"]
