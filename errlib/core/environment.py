"""What a stage's numbers depend on besides its settings and code: the environment they came from.

Within one machine a fixed thread count gives bit-identical payloads; across machines, the CPU
kernel path torch dispatches to (``AVX2``, ``AVX512``, ...), torch's version and the thread count
change the floating-point order of reductions, and so the last digits of a trained model, and
through training, the headline numbers. None of these is in a cache key (a key that held the
machine would never share a cache); every stage's manifest and every results file records them
instead, so two runs that disagree say why. The precision is the exception: it is a setting
(``Config.precision``), so it is in the key as well as recorded here.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from .train import pick_device


def environment(precision: Optional[str] = None, device: Optional[str] = None) -> Dict[str, Any]:
    """``{"threads", "precision", "torch", "device", "cpu_capability"[, "gpu"]}`` for this process.

    ``threads``: ``torch.get_num_threads()`` now (the count a stage computed with when recorded
    right after it); ``precision``: the stage's (``"fp32"`` when not given); ``cpu_capability``:
    ``torch.backends.cpu.get_cpu_capability()``, the CPU kernel path; ``gpu``: the device's name
    when ``device`` (default :func:`errlib.core.train.pick_device`) is a CUDA device.
    """
    dev = pick_device(device)
    env = {"threads": torch.get_num_threads(), "precision": precision or "fp32", "torch": torch.__version__,
           "device": dev.type, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if dev.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(dev)
    return env
