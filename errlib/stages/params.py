"""A notebook's ``parameters`` cell, checked before any compute.

:func:`from_notebook` resolves a :class:`~errlib.stages.config.Config` from a
notebook's globals; :func:`check_parameters` refuses an unknown name or a value
of the wrong type with the valid names. Both are re-exported by
:mod:`errlib.stages.config` (``config.from_notebook(globals())``); this module
imports ``config`` inside its functions, since ``config`` imports it.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence


def check_parameters(values: Dict[str, Any], names: Sequence[str]) -> None:
    """Raise ValueError, before any compute, if a parameter is not in ``names`` or has the wrong type.

    Types come from :class:`Config`'s fields; ``None`` always means "the profile's
    value"; an int is a valid float; a list or tuple fills a tuple field.
    """
    import difflib
    import typing

    unknown = sorted(set(values) - set(names))
    if unknown:
        hints = {k: difflib.get_close_matches(k, names, n=1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ValueError(f"unknown parameter(s) {said}; valid names: {', '.join(names)}")
    from .config import Config

    fields = typing.get_type_hints(Config)
    for k, v in values.items():
        want = fields.get(k)
        if v is None or want is None:
            continue
        args = [a for a in typing.get_args(want) if a is not type(None)]
        base = typing.get_origin(want) or want
        if base is typing.Union:
            base = typing.get_origin(args[0]) or args[0]
        if base is tuple:
            ok = isinstance(v, (list, tuple)) and all(isinstance(e, (int, float)) and not isinstance(e, bool)
                                                      or isinstance(e, str) for e in v)
        elif base is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif base is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, base)
        if not ok:
            raise ValueError(f"parameter {k!r} must be {getattr(base, '__name__', base)} (or None for the "
                             f"profile's value), got {v!r} ({type(v).__name__})")


def from_notebook(namespace: Dict[str, Any], extra: Sequence[str] = ()):
    """Resolve a config from a notebook's parameter variables.

    Reads the shared names in ``PARAMETERS`` plus a chapter's ``extra`` ones
    (which must be :class:`Config` fields); lists become tuples. A global that
    looks injected by ``papermill -p`` (a str, number, bool, None, list or
    tuple under a public name the notebook does not declare, e.g. a misspelt
    ``epss``) or a value of the wrong type stops the notebook here, before any
    compute, with the valid names (:func:`check_parameters`).
    """
    from .config import PARAMETERS, resolve

    names = tuple(PARAMETERS) + tuple(extra)
    missing = [k for k in names if k not in namespace]
    if missing:
        raise ValueError(f"the parameters cell must define {missing}")
    ipython = {"In", "Out", "exit", "quit", "get_ipython"}
    injected = {k: v for k, v in namespace.items()
                if not k.startswith("_") and k not in ipython
                and isinstance(v, (str, int, float, bool, list, tuple, type(None)))}
    check_parameters(injected, names)
    values = {k: tuple(v) if isinstance(v, list) else namespace[k] for k in names for v in [namespace[k]]}
    return resolve(values.pop("profile"), **values)
