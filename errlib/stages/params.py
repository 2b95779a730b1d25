"""Every setting's declared range, and a notebook's ``parameters`` cell, checked before any compute.

:data:`RANGES` holds one :class:`Range` per :class:`~errlib.stages.config.Config` field: its type,
whether ``None`` is allowed (and what it means), its least value, its most value (a number, or a
bound read off other settings, e.g. a radius is at most the largest distance between two images
of the dataset), its allowed names, or the setting it must differ from. :func:`check_settings`
applies the table to a whole config (``config.resolve`` and ``Config.replace`` call it), and
:func:`check_parameters` to a notebook's or a command line's parameters, so a bad value stops a
run with the setting's name before anything is computed.

Why a table and not pydantic: the settings are a frozen dataclass whose fields the notebooks, the
cache keys and the task table already read; pydantic would add a dependency and a second model of
the same fields to keep in step, and its messages name types, not what a value means ("the
largest L2 distance between two mnist images"). The table is one line per setting, readable
beside :class:`Config`, and tests/test_config_ranges.py generates good and bad values from it.

:func:`errlib.stages.config.from_notebook` resolves a config from a notebook's globals with
these checks; this module never imports ``config`` (``config`` imports it).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

Settings = Dict[str, Any]

# Images per split, for the bounds on how many a setting may draw (errlib.core.data.subset refuses more).
TRAIN_IMAGES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}
TEST_IMAGES = {"mnist": 10000, "fashion_mnist": 10000, "cifar10": 10000}


class Range(NamedTuple):
    """What one setting may hold (see the module doc); an empty field means "no such limit"."""

    kind: type  # bool, int, float (finite; an int is a float), str, or tuple (of `item`)
    low: Optional[float] = None  # least value allowed
    strict: bool = False  # `low` itself is refused
    high: Optional[Callable[[Settings], Tuple[float, str]]] = None  # settings -> (most allowed, why)
    names: Optional[Callable[[], Sequence[str]]] = None  # the allowed names
    none: str = ""  # what None means, when None is allowed
    item: Optional["Range"] = None  # a tuple's elements (a tuple is never empty)
    differs: str = ""  # another setting this one must not equal


def _diagonal(norm: Optional[str]) -> Callable[[Settings], Tuple[float, str]]:
    """A radius's bound: the largest ``norm`` distance between two images in [0, 1] (cfg's norm if None)."""
    def bound(s: Settings) -> Tuple[float, str]:
        from ..core.data import dataset_info

        n, info = norm or s["norm"], dataset_info(s["dataset"])
        return (1.0 if n == "linf" else math.sqrt(math.prod(info.shape))), f"the largest {n} distance between two {info.name} images"
    return bound


def _images(split: Dict[str, int], *datasets: str) -> Callable[[Settings], Tuple[float, str]]:
    def bound(s: Settings) -> Tuple[float, str]:
        from ..core.data import dataset_info

        names = sorted({dataset_info(s[d]).name for d in datasets})
        part = "training" if split is TRAIN_IMAGES else "test"
        return min(split.get(n, 0) for n in names), f"the {part} images of {' and '.join(names)}"
    return bound


def _names(module: str, attr: str) -> Callable[[], Sequence[str]]:
    """The keys of ``errlib.<module>.<attr>``, read when a value is checked (no import circle)."""
    def names() -> Sequence[str]:
        import importlib
        return tuple(getattr(importlib.import_module(f"errlib.{module}"), attr))
    return names


def _datasets() -> Sequence[str]:
    """Dataset names and their aliases (``config.resolve`` turns an alias into the name)."""
    from ..core.data import ALIASES, DATASETS
    return tuple(DATASETS) + tuple(ALIASES)


def _finite(v: float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


RADIUS, L2_RADIUS = Range(float, 0, True, _diagonal(None)), Range(float, 0, True, _diagonal("l2"))
AT_LEAST_ONE, SEED = Range(int, 1), Range(int, 0)
TRAIN, MODEL = _images(TRAIN_IMAGES, "dataset"), Range(str, names=_names("core.models", "MODELS"))
DATASET = Range(str, names=_datasets)

RANGES: Dict[str, Range] = {
    "profile": Range(str, names=_names("stages.config", "PROFILES")), "dataset": DATASET, "seed": SEED,
    "device": Range(str, none="$ERRLIB_DEVICE, else cuda, then mps, then cpu"),  # parsed by torch: config
    "precision": Range(str, names=_names("core.precision", "PRECISIONS")),
    "model": MODEL, "n_train": Range(int, 1, high=_images(TRAIN_IMAGES, "dataset", "weak_dataset"), none="all"),
    "epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": Range(float, 0, True),
    "optimizer": Range(str, names=lambda: ("adam", "sgd")),
    "schedule": Range(str, names=lambda: ("constant", "onecycle")), "augment": Range(bool),
    "norm": Range(str, names=_names("core.attacks", "STEPS")), "eps": RADIUS, "steps": AT_LEAST_ONE,
    "step_size": RADIUS._replace(none="2.5 * eps / steps"), "n_attack": Range(int, 1, high=TRAIN),
    "attack_batch_size": AT_LEAST_ONE,
    "student_model": MODEL, "student_epochs": AT_LEAST_ONE, "student_lr": Range(float, 0, True),
    "student_optimizer": Range(str, names=lambda: ("adam", "sgd")),
    "student_schedule": Range(str, names=lambda: ("constant", "onecycle")),
    "keep": Range(str, names=lambda: ("all", "successful")),
    "n_control": AT_LEAST_ONE, "sweep_eps": Range(tuple, item=RADIUS), "sweep_n_attack": Range(int, 1, high=TRAIN),
    "robust_eps": Range(tuple, item=L2_RADIUS), "transfer_models": Range(tuple, item=MODEL),
    "transfer_n_train": Range(int, 1, high=TRAIN),
    "judge_model": MODEL, "judge_eps": L2_RADIUS, "judge_steps": AT_LEAST_ONE, "judge_epochs": AT_LEAST_ONE,
    "judge_n_train": Range(int, 1, high=TRAIN, none="all"), "judge_eval_eps": Range(tuple, item=L2_RADIUS),
    "judge_eval_steps": AT_LEAST_ONE, "judge_n_eval": Range(int, 1, high=_images(TEST_IMAGES, "dataset")),
    "judge_seed": SEED, "n_seeds": AT_LEAST_ONE, "part2_seeds": AT_LEAST_ONE, "planted_seeds": AT_LEAST_ONE,
    "grader_model": MODEL, "grader_eps": L2_RADIUS,
    "grader_seed": SEED._replace(differs="judge_seed"),  # the grader is an independent judge
    "n_constrained": Range(int, 0, none="every attacked image; more than n_attack is all, 0 none"),
    "constrain_lam": Range(float, 0),
    "weak_dataset": DATASET,
    "teacher_steps": Range(int, 1, none="the weak dataset's TEACHER_STEPS"),
    "wrong_epochs": AT_LEAST_ONE, "cross_epochs": AT_LEAST_ONE, "toy_seeds": AT_LEAST_ONE,
    "toy_steps": AT_LEAST_ONE, "n_test": Range(int, 1, none="the whole test set; more is all"),
}


def _fits(v: Any, r: Range, s: Optional[Settings]) -> bool:
    """Whether ``v`` is in range ``r``; bounds read off other settings only when ``s`` is given."""
    if v is None:
        return bool(r.none)
    if r.kind is tuple:
        return isinstance(v, (tuple, list)) and len(v) > 0 and all(_fits(e, r.item, s) for e in v)
    numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
    if not {bool: isinstance(v, bool), str: isinstance(v, str), int: numeric and isinstance(v, int),
            float: numeric and _finite(v)}[r.kind]:
        return False
    if r.low is not None and (v <= r.low if r.strict else v < r.low):
        return False
    if r.names is not None and v not in r.names():
        return False
    if s is not None and r.differs and v == s.get(r.differs):
        return False
    return s is None or r.high is None or v <= r.high(s)[0]


def describe(r: Range, s: Optional[Settings] = None) -> str:
    """What a setting of range ``r`` must be, in words (its bound's value when ``s`` is given)."""
    if r.kind is tuple:
        text = f"a non-empty list of ({describe(r.item, s)})"
    else:
        text = {float: "float, finite"}.get(r.kind, r.kind.__name__)
        if r.low is not None:
            text += f", {'>' if r.strict else '>='} {r.low:g}"
        if r.high is not None:
            text += f", <= {r.high(s)[0]:g} ({r.high(s)[1]})" if s is not None else ", bounded by the dataset"
        if r.names is not None:
            text += f", one of {', '.join(map(repr, r.names()))}"
        if r.differs:
            text += f", not equal to {r.differs}" + (f" ({s.get(r.differs)!r})" if s is not None else "")
    return text + (f" (or None: {r.none})" if r.none else "")


def check_setting(name: str, value: Any, settings: Optional[Settings] = None, what: str = "setting") -> None:
    """ValueError naming ``name`` if ``value`` is outside its range in :data:`RANGES` (unknown names pass)."""
    r = RANGES.get(name)
    if r is not None and not _fits(value, r, settings):
        shown = f"{value!r} ({type(value).__name__})" if value is not None else "None"
        unknown = f"unknown {name} {value!r}; " if isinstance(value, str) and r.names else ""
        raise ValueError(f"{unknown}{what} {name!r} must be {describe(r, settings)}, got {shown}")


def check_settings(settings: Settings) -> None:
    """Every setting of a whole config in its range, then the bounds read off other settings (so a
    bound never reads a bad setting); the first bad one raises (ValueError naming it)."""
    for name, value in settings.items():
        check_setting(name, value)
    for name, value in settings.items():
        check_setting(name, value, settings)


def check_parameters(values: Dict[str, Any], names: Sequence[str]) -> None:
    """Raise ValueError, before any compute, if a parameter is not in ``names`` or out of its range.

    Ranges are :data:`RANGES` (bounds that depend on other settings are checked when the whole
    config is resolved); ``None`` always means "the profile's value"; an int is a valid float; a
    list or tuple fills a tuple field.
    """
    import difflib

    unknown = sorted(set(values) - set(names))
    if unknown:
        hints = {k: difflib.get_close_matches(k, names, n=1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ValueError(f"unknown parameter(s) {said}; valid names: {', '.join(names)}")
    for k, v in values.items():
        if v is not None:
            check_setting(k, v, what="parameter")
