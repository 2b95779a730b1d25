"""errlib: learning from adversarial errors, as a course.

Four sub-packages, each importing only from the ones before it (``tests/test_layout.py`` checks):

- :mod:`errlib.core`: the ML primitives, knowing nothing of the course: ``data``, ``models``,
  ``train``, ``attacks``, ``constrained`` (the judge-constrained attack), ``seeds``, ``progress``,
  ``parallel``, ``precision`` (fp32 or bf16 autocast), ``environment`` (what numbers depend on
  besides settings: threads, precision, torch, CPU kernel path or GPU).
- :mod:`errlib.stages`: the science as cached stages built from core: ``cache`` (with its keys'
  ``identity``: settings, upstream keys and the code of core and stages), ``kinds`` (what each
  published value is: fraction, count, ...), ``report`` (a notebook saving its values with their
  kinds), ``config`` (with ``params``, a notebook's parameters cell), ``errsets``, ``pipeline``
  (Part I and the stage toolkit), ``leakage``,
  ``constrained_sets`` (judge-constrained sets and the second judge), ``wallace`` (Part II),
  ``controls``, ``toy``, ``reference``, ``planted`` (the positive control), ``verdict`` (the
  paired margin kept, its interval and the decision rule), ``executor`` (stage calls as
  one-thread processes, by their dependencies) and ``course_plan`` (the course's graph, declared
  once with real callables).
- :mod:`errlib.teach`: what a learner sees besides numbers: ``plotting``, ``toy_plots``,
  ``verdict_plots``, ``exercises`` (with their ``checkers``) and their reference ``solutions``.
- :mod:`errlib.run`: the machinery that executes the course: ``course`` (the command line),
  ``runner``, ``tasks`` (the course plan as runnable tasks), ``sweep``, ``render`` (``report.md`` and formatting by
  kind), ``results_page`` (``docs/results.md`` and the README's table from a results.json),
  ``site`` (the run's ``index.html``, slides).

The direction is the point: a change to how the course is run or taught cannot change a number,
and the stages that make numbers never reach up into the machinery that schedules them.

A short public face keeps notebook imports stable: ``from errlib import pipeline, plotting``
loads ``errlib.stages.pipeline`` and ``errlib.teach.plotting`` on first use. Notebooks import
only core, stages and teach (``tests/test_layout.py`` checks): what they need to publish a
number, ``report.save_results``, is a stage-side module.
"""
import importlib

__version__ = "0.1.0"

LAYOUT = {
    "core": ("data", "models", "train", "attacks", "constrained", "seeds", "progress", "parallel", "precision",
             "environment"),
    "stages": ("cache", "identity", "kinds", "report", "config", "params", "errsets", "pipeline", "leakage",
               "constrained_sets", "wallace", "controls", "toy", "reference", "planted", "verdict", "executor", "costs",
               "course_plan"),
    "teach": ("plotting", "toy_plots", "verdict_plots", "exercises", "check_kit", "checkers", "pgd_checker",
              "solutions"),
    "run": ("course", "runner", "tasks", "sweep", "render", "results_page", "time_table", "site"),
}
_HOME = {module: package for package, modules in LAYOUT.items() for module in modules}


def __getattr__(name: str):
    """``errlib.<module>`` -> ``errlib.<sub-package>.<module>``, imported on first use."""
    if name in _HOME:
        return importlib.import_module(f"{__name__}.{_HOME[name]}.{name}")
    raise AttributeError(f"module 'errlib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_HOME))
