"""The course's task table: :func:`errlib.stages.course_plan.course_plan` made into runnable tasks.

Each notebook row becomes its papermill job and each stage call a ``python -m
errlib.stages.executor`` process (:func:`errlib.stages.executor.run_call`), one thread each;
:func:`errlib.stages.executor.run_tasks` runs the table by its dependencies. The graph itself is
declared once, beside the stages; this module only says how each row runs in a course run:
where its log and results go, and which rows apply (a notebook that is up to date has no row,
and with ``ahead=False`` no stage call runs ahead of its notebook).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from ..stages.course_plan import course_plan
from ..stages.executor import Task, call_env, step_task


def task_env(results: Path, profile: str) -> Dict[str, str]:
    """What a process the course starts gets on top of the caller's environment: where its notebook
    saves results, the profile, one thread (:func:`errlib.stages.executor.call_env`)."""
    return call_env(ERRLIB_RESULTS=str(results), ERRLIB_PROFILE=profile)


def course_table(profile: str, notebooks: Dict[str, Tuple[str, Callable[[], Dict[str, Any]]]],
                 shares: Dict[str, Dict[str, Any]], out: Path, ahead: bool = True) -> List[Task]:
    """The run's tasks, most urgent first: ``notebooks`` (number -> ``(stem, run)``) about to run and,
    with ``ahead``, the stage calls of the course plan for the course notebooks among them
    (``shares``: each one's parameters in this run). Rows name notebooks by stem."""
    from ..stages.config import resolve

    cfgs = {n: resolve(profile, **{k: tuple(v) if isinstance(v, list) else v for k, v in p.items() if k != "profile"})
            for n, p in shares.items() if n in notebooks} if ahead else {}
    names = lambda numbers: tuple(notebooks[n][0] if n in notebooks else n for n in numbers)
    env = task_env(out / "results", profile)
    tasks = []
    for step in course_plan(cfgs):
        if step.fn is None:
            if step.name in notebooks:
                tasks.append(Task(notebooks[step.name][0], names(step.after), notebooks[step.name][1]))
            continue
        task = step_task(step, env, out / "ahead")
        tasks.append(task._replace(after=names(step.after), before=names(step.before)))
    return tasks
