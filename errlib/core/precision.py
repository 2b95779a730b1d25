"""The arithmetic a model computes in: float32, or bfloat16 autocast where the device has it natively.

    choose("auto", torch.device("cpu"))   # "bf16" on a CPU with AMX or AVX512-BF16, else "fp32"
    with autocast("bf16", device): logits = net(x)

``precision`` is one of :data:`PRECISIONS`:

* ``"fp32"``: float32 throughout (the course's numbers in the README were made so);
* ``"bf16"``: the model's forward pass (hence its backward) under
  ``torch.autocast(dtype=torch.bfloat16)``: convolutions and matmuls take bf16
  inputs, everything else stays float32;
* ``"auto"``: ``"bf16"`` where the device computes bf16 natively (:func:`native_bf16`:
  a CPU with AMX-BF16 or AVX512-BF16, an ARM CPU with its BF16 extension, a CUDA GPU
  that supports it), else ``"fp32"``. On a CPU without those instructions bf16 is
  emulated, slower than fp32 (``benchmarks/README.md``), so ``auto`` keeps fp32 there.

What stays float32 under ``"bf16"``: images, perturbations, the attack's
projection and box clamp, the logits a model returns (cast back, see
:class:`errlib.core.models.Model`), losses, gradients of the input and the
parameters, and the optimiser's state. Only a model's own layers run in bf16.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager, Union

import torch

PRECISIONS = ("auto", "fp32", "bf16")
RESOLVED = ("fp32", "bf16")
_AUTOCAST_DEVICES = ("cpu", "cuda")  # where errlib runs bf16 autocast


def check(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ValueError naming the allowed values."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)} "
                         "(auto: bf16 where the device computes it natively, else fp32)")
    return precision


def _device(device: Union[str, torch.device, None]) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def cpu_bf16_flags() -> dict:
    """The CPU's bf16-related instruction sets as torch's cpuinfo reports them (``{}`` if torch cannot say)."""
    caps = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if caps is None:
        return {}
    got = caps()
    return {k: bool(got.get(k, False)) for k in ("amx_bf16", "avx512_bf16", "bf16", "sve_bf16") if k in got}


def native_bf16(device: Union[str, torch.device, None] = None) -> bool:
    """True where ``device`` computes bfloat16 arithmetic in hardware (not emulated).

    CPU: AMX-BF16 or AVX512-BF16 (x86), the BF16 extension (ARM), from
    ``torch.cpu.get_capabilities()``; CUDA: ``torch.cuda.is_bf16_supported()``
    (Ampere and later); anything else (e.g. ``mps``): False.
    """
    dev = _device(device)
    if dev.type == "cpu":
        return any(cpu_bf16_flags().values())
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return False


def choose(precision: str, device: Union[str, torch.device, None] = None) -> str:
    """``"fp32"`` or ``"bf16"``: what ``precision`` means on ``device`` (see the module docstring).

    An explicit ``"bf16"`` is honoured on a CPU even without native support (emulated,
    slow, but it runs); on a device errlib cannot autocast (not cpu or cuda) it is a
    ValueError, raised here, before any compute.
    """
    check(precision)
    dev = _device(device)
    if precision == "auto":
        return "bf16" if native_bf16(dev) else "fp32"
    if precision == "bf16" and dev.type not in _AUTOCAST_DEVICES:
        raise ValueError(f"precision 'bf16' is supported on {' and '.join(_AUTOCAST_DEVICES)} devices, "
                         f"not {dev.type!r}; use 'auto' or 'fp32'")
    return precision


def explain(precision: str, device: Union[str, torch.device, None] = None) -> str:
    """One line saying what ``precision`` resolved to on ``device`` and why (for a notebook's settings)."""
    dev = _device(device)
    got = choose(precision, dev)
    if precision != "auto":
        return f"{got} (set explicitly)"
    if dev.type == "cpu":
        flags = cpu_bf16_flags()
        have = [k for k, v in flags.items() if v]
        why = (f"this CPU has {', '.join(have)}" if have else
               f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16, which would be emulated")
        return f"{got} (auto: {why})"
    return f"{got} (auto: {dev.type} {'has' if got == 'bf16' else 'lacks'} native bf16)"


def autocast(resolved: str, device: Union[str, torch.device, None] = None) -> ContextManager:
    """``torch.autocast`` to bfloat16 on ``device``'s type for ``"bf16"``; a no-op for ``"fp32"``."""
    if resolved not in RESOLVED:
        raise ValueError(f"autocast takes a resolved precision ({', '.join(RESOLVED)}), got {resolved!r}; "
                         "call choose() first")
    if resolved == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(_device(device).type, dtype=torch.bfloat16)
