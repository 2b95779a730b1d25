"""The tools every checker of :mod:`errlib.teach.checkers` is built from: a finding, case draws, reviews.

A checker checks what a careful reviewer checks, not only the values: each call of the
learner's function goes through :func:`call`, which fails if the function changed a tensor
it was given (aliasing: an in-place edit of an input) or drew from torch's global random
generator; and the cases cover fixed edge cases on every call (several channels, non-square
images, 2 and 10 classes, a class with no image), so no random draw decides a PASS.
"""
from __future__ import annotations

import torch

ROUNDS = 3  # independent random cases per check
SHAPES = ((3, 5, 2), (1, 4, 4), (1, 28, 28), (3, 8, 8))  # the first: several channels, not square
CLASSES = (2, 10)  # class counts every class-based checker sees, beside a drawn one


class CheckFailed(AssertionError):
    """A checker's finding: what the student's function got wrong."""


def expect(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b) or (
        a.is_floating_point() and torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())))


def call(fn, *args, rng_free: bool = True):
    """``fn(*args)``, checked to leave every tensor argument as it found it and, with ``rng_free``
    (the default), torch's global random generator untouched."""
    kept = [a.clone() if torch.is_tensor(a) else None for a in args]
    state = torch.get_rng_state()
    out = fn(*args)
    for i, (a, k) in enumerate(zip(args, kept)):
        expect(k is None or _same(a, k), f"your function changed its argument number {i + 1} in place: work on a "
               "copy, or build a new tensor (the caller still needs the original)")
    expect(not rng_free or torch.equal(state, torch.get_rng_state()), "your function drew from torch's global "
           "random generator: draw every random number from the generator passed in")
    return out


def _close(a, b, tol: float = 1e-5) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=tol, rtol=tol, equal_nan=True))


def _tensor(out, shape, what="a tensor", dtype=None) -> torch.Tensor:
    expect(torch.is_tensor(out), f"expected {what}, got {type(out).__name__}")
    expect(tuple(out.shape) == tuple(shape), f"expected shape {tuple(shape)}, got {tuple(out.shape)}")
    expect(dtype is None or out.dtype == dtype, f"expected {what} of dtype {dtype}, got {out.dtype}")
    return out


def _number(out) -> float:
    expect(isinstance(out, (float, int)) or (torch.is_tensor(out) and out.numel() == 1),
           f"expected one number, got {type(out).__name__}")
    return float(out)


def _int(g, lo, hi) -> int:
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def _uniform(g, lo, hi) -> float:
    return lo + (hi - lo) * float(torch.rand(1, generator=g))


def _shape(g):
    return SHAPES[_int(g, 0, len(SHAPES) - 1)]


def _shapes(g):
    """Every call: several channels and not square, then one drawn shape."""
    return [SHAPES[0], _shape(g)]


def _classes(g, lo=3, hi=10):
    """Every call: 2 and 10 classes, then a drawn count."""
    return [*CLASSES, _int(g, lo, hi)]


def _labels(g, n, C, every_class=True) -> torch.Tensor:
    y = torch.randint(0, C, (n,), generator=g)
    if every_class:
        y[:C] = torch.randperm(C, generator=g)
    return y[torch.randperm(n, generator=g)]


def _per_example(v, like):
    return v.view(-1, *[1] * (like.dim() - 1))
