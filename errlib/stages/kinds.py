"""What a published number is, declared where it is made: a fraction, a count, a norm, ...

A headline value is made with its kind, by the code that computes it::

    row = {"D_det_student_clean_test_acc": fraction(acc), "D_det_filtered_rows": count(n)}
    report.save_results("04_measure", cfg, {"D_rand": fraction(0.87, reference=0.633, source="...")})

A number made so is still an ordinary ``float`` or ``int`` (arithmetic, formatting, torch and
JSON treat it as one) that also carries ``.kind`` and ``.extra`` (``reference``, ``source``,
``headline``); what is computed from it is a plain number again, whose kind must be declared
anew. A value that is not a number (``None``, a list, the rows of a table) is made as the dict
``{"value": v, "kind": k, ...}``, which is also what :func:`record` writes to ``results.json``
for every value. Nothing guesses a kind from a name: :func:`record` refuses a value without one.

Kinds (:data:`KINDS`): ``fraction`` (in [0, 1], printed as a percentage), ``count``, ``norm``
(pixel units), ``seconds``, ``number`` (anything else), ``table`` (a list of rows, each a dict
of kinded values), ``text`` (a word from a fixed set, such as a verdict).
"""
from __future__ import annotations

from typing import Any, Dict

KINDS = ("fraction", "count", "norm", "seconds", "number", "table", "text")
EXTRAS = ("reference", "source", "headline")  # what a value may carry besides its kind


class _Kinded:
    """A number that carries its kind and extras (mixed into ``float`` and ``int``)."""

    kind: str
    extra: Dict[str, Any]


class _KindedFloat(_Kinded, float):
    pass


class _KindedInt(_Kinded, int):
    pass


def value(v: Any, kind: str, **extra: Any):
    """``v`` with ``kind``: a kinded ``int``/``float`` for a number (a 0-d tensor is read with
    ``.item()``), else ``{"value": v, "kind": kind, **extra}``. ``extra``: ``reference`` (the
    published number beside ours, same kind), ``source`` (where it is from), ``headline=True``
    (shown on the course's index page although it has no reference)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    unknown = set(extra) - set(EXTRAS)
    if unknown:
        raise ValueError(f"unknown extras {sorted(unknown)}; allowed: {', '.join(EXTRAS)}")
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, (int, float)) and kind != "table":
        out = (_KindedInt if isinstance(v, int) else _KindedFloat)(v)
        out.kind, out.extra = kind, dict(extra)
        return out
    return {"value": v, "kind": kind, **extra}


def fraction(v: Any, **extra: Any):
    """A share in [0, 1] (an accuracy, a success rate), printed as a percentage."""
    return value(v, "fraction", **extra)


def count(v: Any, **extra: Any):
    """A number of things (rows, seeds, images), printed with thousands separators."""
    return value(v, "count", **extra)


def norm(v: Any, **extra: Any):
    """A perturbation size or radius in pixel units (pixels in [0, 1])."""
    return value(v, "norm", **extra)


def seconds(v: Any, **extra: Any):
    """A duration in seconds."""
    return value(v, "seconds", **extra)


def number(v: Any, **extra: Any):
    """Any other number (a ratio that is not a share, a seed)."""
    return value(v, "number", **extra)


def table(rows, **extra: Any):
    """Rows (dicts of kinded values, e.g. one per seed), written cell by cell with their kinds."""
    return value(list(rows), "table", **extra)


def headline(v: Any):
    """``v`` (a kinded number) again, also marked ``headline`` (shown on the course's index page)."""
    return value(_plain(v), kind_of("headline value", v), **dict(v.extra, headline=True))


def kind_of(name: str, v: Any) -> str:
    """The kind ``v`` was made with (a kinded number or a ``{"value", "kind"}`` dict); a value
    without one raises ``TypeError`` naming ``name``."""
    kind = v.kind if isinstance(v, _Kinded) else v.get("kind") if isinstance(v, dict) else None
    if kind is None:
        raise TypeError(f"value {name!r} ({v!r}) has no kind: make it where it is computed with "
                        "errlib.stages.kinds.fraction/count/norm/seconds/number/table (also errlib.stages.report.*)")
    if kind not in KINDS:
        raise ValueError(f"value {name!r} has unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return kind


def _plain(v: Any) -> Any:
    if isinstance(v, _KindedInt):
        return int(v)
    if isinstance(v, _KindedFloat):
        return float(v)
    return v


def restore(recorded: Dict[str, Any]):
    """The value :func:`record` wrote, made again with its kind and extras (a number as a kinded
    ``int``/``float``; anything else as its ``{"value", "kind", ...}`` dict)."""
    return value(recorded["value"], recorded["kind"], **{k: recorded[k] for k in EXTRAS if k in recorded})


def record(name: str, v: Any) -> Dict[str, Any]:
    """``{"value": v, "kind": k, ...extras}`` as ``results.json`` holds it; a table's rows are
    recorded cell by cell. Raises ``TypeError`` for a value (or cell) without a kind."""
    kind = kind_of(name, v)
    if isinstance(v, _Kinded):
        return {"value": _plain(v), "kind": kind, **v.extra}
    out = dict(v, value=_plain(v.get("value")))
    if kind == "table":
        out["value"] = [{k: record(f"{name}[{i}].{k}", cell) for k, cell in row.items()}
                        for i, row in enumerate(v["value"])]
    return out
