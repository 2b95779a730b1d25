"""Model registry. Every model takes pixels in [0, 1] and normalises inside.

``make_model(name, dataset)`` builds a fresh, randomly initialised model whose
first layer is :class:`Normalize` with the dataset's mean and std, so attacks,
eps radii and stored error sets always live in [0, 1] pixel space.

Registered names:

* ``cnn``: the course's small CNN for 28x28 inputs, built to be fast on a CPU
  (conv 16-3x3 -> pool -> conv 32-3x3 -> pool -> fc 128 -> fc C, channels-last);
* ``cnn_wide``: the same shape with twice the channels (conv 32 -> conv 64), a
  second architecture for transfer experiments, about 2x the cost;
* ``mlp``: two hidden layers of 256 units;
* ``resnet18``: the CIFAR-style ResNet-18 (3x3 stem, no max-pool) used by the
  reproductions, for 32x32 colour images.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from .data import dataset_info
from .precision import RESOLVED, autocast


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; input ``(N, C, H, W)`` in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class SmallCNN(nn.Module):
    """Two conv blocks (conv, 2x2 max-pool, ReLU), then two linear layers.

    Runs channels-last, faster on a CPU for these small convolutions. Pooling
    comes before the ReLU: ``relu(maxpool(z)) == maxpool(relu(z))`` exactly (ReLU
    is monotone), outputs and gradients alike, but the ReLU and its backward then
    touch a quarter of the elements (speed-ups: ``benchmarks/README.md``). The
    layer indices, hence the ``state_dict`` keys of saved models, are those of
    conv-ReLU-pool.
    """

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10, width: int = 16,
                 kernel: int = 3):
        super().__init__()
        c, h, w = in_shape
        flat = 2 * width * (h // 4) * (w // 4)
        self.features = nn.Sequential(
            nn.Conv2d(c, width, kernel, padding=kernel // 2), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel, padding=kernel // 2), nn.MaxPool2d(2), nn.ReLU())
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, num_classes))
        self.features.to(memory_format=torch.channels_last)

    def forward(self, x):
        x = self.features(x.contiguous(memory_format=torch.channels_last))
        return self.classifier(x.contiguous())


class MLP(nn.Sequential):
    """Flatten, then ``hidden`` ReLU layers, then a linear classifier."""

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10,
                 hidden: Sequence[int] = (256, 256)):
        d = 1
        for s in in_shape:
            d *= s
        layers = [nn.Flatten()]
        for hdim in hidden:
            layers += [nn.Linear(d, hdim), nn.ReLU()]
            d = hdim
        layers.append(nn.Linear(d, num_classes))
        super().__init__(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between, plus a (projected, when the shape changes) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: 3x3 stem, four stages of two basic blocks, global pool."""

    def __init__(self, in_shape=(3, 32, 32), num_classes: int = 10):
        super().__init__()
        c = in_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS: Dict[str, Callable[..., nn.Module]] = {
    "cnn": lambda in_shape, num_classes: SmallCNN(in_shape, num_classes, width=16, kernel=3),
    "cnn_wide": lambda in_shape, num_classes: SmallCNN(in_shape, num_classes, width=32, kernel=3),
    "mlp": lambda in_shape, num_classes: MLP(in_shape, num_classes),
    "resnet18": lambda in_shape, num_classes: ResNet18(in_shape, num_classes),
}


def init_weights(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-draw every ``Conv2d``/``Linear`` layer's weights as torch's default does, from ``generator``.

    torch's layers draw their initial weights from the global generator; this
    gives the same distribution (Kaiming-uniform weights, uniform biases in
    +-1/sqrt(fan_in)) from a generator the caller owns. BatchNorm starts at
    weight 1, bias 0 either way.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return net


class Model(nn.Sequential):
    """``Normalize`` then a net, whose forward pass runs in its ``precision`` (``"fp32"`` or ``"bf16"``).

    Under ``"bf16"`` the layers run in ``torch.autocast`` bfloat16 (so does their
    backward, which autograd records with the forward) and the logits come back
    as float32: the input, the losses computed from the logits and every gradient
    a caller sees stay float32 (:mod:`errlib.core.precision`). Autocast is entered
    inside ``forward``, so it also holds in the attack's worker threads. The
    ``state_dict`` keys are those of a plain ``nn.Sequential``; the precision is
    not stored in it (it belongs to the training recipe).
    """

    precision = "fp32"

    def __init__(self, *layers: nn.Module, precision: str = "fp32"):
        super().__init__(*layers)
        self.set_precision(precision)

    def set_precision(self, precision: str) -> "Model":
        """Set the resolved precision, ``"fp32"`` or ``"bf16"`` (see :func:`errlib.core.precision.choose`)."""
        if precision not in RESOLVED:
            raise ValueError(f"a model's precision is a resolved one ({', '.join(RESOLVED)}), got {precision!r}")
        self.precision = precision
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision == "fp32":
            return super().forward(x)
        with autocast(self.precision, x.device):
            out = super().forward(x)
        return out.float()

    def extra_repr(self) -> str:
        return f"precision={self.precision}"


def make_model(name: str, dataset: str = "mnist", *, mean: Optional[Sequence[float]] = None,
               std: Optional[Sequence[float]] = None, seed: Optional[int] = None,
               precision: str = "fp32") -> Model:
    """A fresh :class:`Model` ``(Normalize(mean, std), net)`` for ``dataset``'s image shape.

    ``mean``/``std`` default to the dataset's own statistics; pass others to
    normalise with another dataset's statistics (Wallace's cross-domain run).
    With ``seed`` the initial weights are reproducible: drawn from a generator
    seeded with it (:func:`init_weights`), leaving torch's global generator alone.
    ``precision`` (resolved: ``"fp32"`` or ``"bf16"``) is the arithmetic of its forward pass.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    info = dataset_info(dataset)
    if seed is None:
        net = MODELS[name](info.shape, info.num_classes)
    else:
        with torch.random.fork_rng(devices=[]):  # construction's own draws leave the global stream alone
            net = MODELS[name](info.shape, info.num_classes)
        init_weights(net, torch.Generator().manual_seed(int(seed)))
    return Model(Normalize(mean or info.mean, std or info.std), net, precision=precision)
