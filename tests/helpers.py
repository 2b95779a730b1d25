"""Tiny synthetic models and tensors shared by the unit tests."""
from __future__ import annotations

import torch
from torch import nn

from errlib.core.models import Normalize


def tiny_model(num_classes: int = 10, shape=(1, 8, 8), seed: int = 0) -> nn.Module:
    """Normalize -> Flatten -> Linear on small images: cheap and differentiable everywhere."""
    torch.manual_seed(seed)
    c, h, w = shape
    return nn.Sequential(Normalize((0.5,) * c, (0.25,) * c), nn.Flatten(),
                         nn.Linear(c * h * w, num_classes))


def tiny_images(n: int = 32, shape=(1, 8, 8), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g)


def tiny_labels(n: int = 32, num_classes: int = 10, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_classes, (n,), generator=g)
