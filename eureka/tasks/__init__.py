"""Task registry: a task = env factory + state extractor + description + fitness + hints.

Tasks register by name, Gymnasium-style::

    from eureka.tasks import Task, register, make
    register(Task(name="my_task", env_id="MyEnv-v0", ...))
    task = make("my_task")

Built-in tasks live in ``envs/*.py`` (one file each, exposing ``TASK``); a path
to such a file also works as a task name (``task=path/to/my_task.py``).
"""

from eureka.tasks.mujoco import locomotion_task
from eureka.tasks.registry import list_tasks, load_task_file, make, register, source_files
from eureka.tasks.spec import Fitness, Hint, StateVar, Task, fitness_value

__all__ = ["Fitness", "Hint", "StateVar", "Task", "fitness_value", "list_tasks", "load_task_file", "locomotion_task",
           "make", "register", "source_files"]
