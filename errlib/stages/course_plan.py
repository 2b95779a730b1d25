"""The course as declarations beside its stages: each notebook's inputs, and the stage calls that can
run ahead of the notebook that reads them.

:func:`course_plan` lists the course, most urgent first, as :class:`~errlib.stages.executor.Step`
rows: a notebook (by number) or a stage call (a real function of :mod:`errlib.stages`, called
as ``fn(cfg, **kwargs)`` with the settings its notebook resolves, so the notebook then loads it
from the cache). The course runner (:mod:`errlib.run.tasks`) turns the rows into tasks, and a
notebook run alone builds its own rows on every core (:func:`errlib.stages.executor.run_steps`
of :func:`calls_04`, :func:`calls_05`, :func:`calls_07`); nothing else restates this graph.

The chain 01 -> 02 -> 03 -> 04 -> 07 sets the course's length, so it and what it waits for
lead; the judge starts at once (02, 04 and 07 read it), the grader too when 04 builds
constrained sets; 04's other seeds, 07's eps points and 05's other seeds fill the other cores.
"""
from __future__ import annotations

from typing import Dict, List

from . import constrained_sets, controls, leakage, wallace
from .config import Config
from .executor import Step
from .pipeline import RULE_NAMES


def calls_04(c4: Config) -> List[Step]:
    """Notebook 04's stage calls, those that unlock others first: the grader (with constrained
    sets; it grades them, and only notebook 04 uses it), the other seeds' headlines (notebooks
    02-03 build the first's), every seed's constrained sets, then the first seed's
    leakage-filtered students, D_other's constrained row and the rows curve."""
    first, constrained = c4.seed, constrained_sets.n_rows(c4) > 0
    judges = ("judge", "grader") if constrained else ("judge",)
    seeds = range(first, first + c4.n_seeds)
    head = {s: f"04 seed {s}" if s != first else "02" for s in seeds}
    steps = [Step("grader", (), ("04",), constrained_sets.get_grader, c4)] if constrained else []
    steps += [Step(head[s], ("judge",), ("04",), leakage.headline_row, c4.replace(seed=s)) for s in seeds if s != first]
    if constrained:
        steps += [Step(f"04 seed {s} {RULE_NAMES[r]} constrained", (head[s],) + judges, ("04",),
                       constrained_sets.set_row, c4.replace(seed=s), {"rule": r}) for s in seeds for r in ("shift", "all")]
    steps.append(Step(f"04 seed {first} leakage", ("02", "judge"), ("04",), leakage.build_controlled_students, c4))
    if constrained:
        steps += [Step(f"04 seed {first} D_other constrained", ("02",) + judges, ("04",), constrained_sets.other_row, c4),
                  Step(f"04 seed {first} rows curve", (f"04 seed {first} D_det constrained",), ("04",),
                       constrained_sets.rows_curve, c4)]
    return steps


def calls_05(c5: Config) -> List[Step]:
    """Notebook 05's other seeds of Part II (the first is its own run)."""
    return [Step(f"05 seed {s}", (), ("05",), wallace.part2_row, c5.replace(seed=s))
            for s in range(c5.seed + 1, c5.seed + c5.part2_seeds)]


def calls_07(c7: Config) -> List[Step]:
    """Notebook 07's eps sweep, one point per radius (:func:`errlib.stages.controls.eps_configs`)."""
    return [Step(f"07 eps={e.eps:g}", ("01", "judge"), ("07",), leakage.eps_point, e) for e in controls.eps_configs(c7)]


def course_plan(cfgs: Dict[str, Config]) -> List[Step]:
    """The course's rows, most urgent first, with stage calls for the notebooks in ``cfgs`` (number ->
    the settings it resolves; a notebook missing there gets no stage call ahead of it)."""
    c4, c5, c7 = cfgs.get("04"), cfgs.get("05"), cfgs.get("07")
    judge_for = tuple(n for n in ("02", "04", "07") if n in cfgs)
    steps = [Step("01", ())]
    if judge_for:
        steps.append(Step("judge", (), judge_for, leakage.get_judge, cfgs[judge_for[0]]))
    c4_calls = calls_04(c4) if c4 is not None else []
    steps += [s for s in c4_calls if s.name == "grader"]  # at once, beside the judge: nothing else needs a core yet
    steps += [Step("02", ("01", "judge")), Step("03", ("02",))]
    steps += [s for s in c4_calls if s.name != "grader"]
    steps += [Step("04", ("03", "judge")), Step("07", ("01", "02", "03", "04", "judge"))]
    steps += calls_07(c7) if c7 is not None else []
    steps += calls_05(c5) if c5 is not None else []
    return steps + [Step("05", ("01",)), Step("06", ()), Step("08", ())]
