"""Every seed of the course, derived from ``cfg.seed`` and a name.

    derive(cfg.seed, "attack_subset")   # an int in [0, 2**31)
    generator(cfg.seed, "targets")      # a fresh torch.Generator seeded with it

Names say what a seed is for, so no two uses share a stream by accident
(as scattered offsets like ``seed + 3`` can) and adding a use moves no other.
Nothing here touches torch's global generator.
"""
from __future__ import annotations

import hashlib

import torch


def derive(seed: int, name: str) -> int:
    """A seed in ``[0, 2**31)`` for the use ``name`` under the run's ``seed`` (stable across runs and machines)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a derived seed needs a non-empty name, got {name!r}")
    digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def generator(seed: int, name: str, device: str = "cpu") -> torch.Generator:
    """A new ``torch.Generator`` on ``device`` seeded with :func:`derive` ``(seed, name)``."""
    return torch.Generator(device=device).manual_seed(derive(seed, name))
