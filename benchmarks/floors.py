#!/usr/bin/env python
"""Each default-profile stage's distance from its FLOP floor: measured time / (FLOPs / matmul FLOP/s).

    ERRLIB_DATA=/path/to/data python benchmarks/floors.py [--quick] [--attack-json F] [--train-json F]

A float32 matmul gives the machine's FLOP/s (at 1 thread and at torch's default;
the faster counts). ``torch.utils.flop_counter`` counts the course CNN's
convolution and matmul FLOPs per image for a forward pass, a training step and an
attack step (forward + input-gradient backward). Each stage of the default profile
(errlib/config.py) then has a limit time, FLOPs / FLOP/s, and a measured time:
errlib's training and attack throughput (from attack.py / train.py results given
as JSON, else measured here) extrapolated to the stage's work.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import TORCH_DEFAULT_THREADS, fmt, log, main, median, target, verdict

SIZES = {"full": dict(matmul_n=1024, reps=15, bf16_n=512, bf16_reps=3),
         "quick": dict(matmul_n=256, reps=3, bf16_n=64, bf16_reps=2)}
ATTACK_TARGET = 3.0  # the attack within 3x its FLOP floor (issue 15)


def matmul_flops(n: int, reps: int, nthreads: int, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of an ``n``-square matmul in ``dtype`` on ``nthreads`` threads (median of ``reps``)."""
    from errlib.core.parallel import num_threads

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    with num_threads(nthreads):
        a @ b
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            ts.append(time.perf_counter() - t0)
    return 2 * n ** 3 / median(ts)


def model_flops() -> dict:
    """FLOPs per image of the course CNN (convolutions and matmuls; elementwise work not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    from errlib.core.models import make_model

    B = 64
    model = make_model("cnn", "mnist", seed=0)
    x, yb = torch.rand(B, 1, 28, 28), torch.randint(0, 10, (B,))

    def count(fn):
        with FlopCounterMode(display=False) as fc:
            fn()
        return fc.get_total_flops() / B

    model.eval()
    with torch.no_grad():
        fwd = count(lambda: model(x))
    model.train()
    train = count(lambda: F.cross_entropy(model(x), yb).backward())
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    xa = x.clone().requires_grad_(True)
    # (backward() rather than autograd.grad, which FlopCounterMode cannot follow; with the
    # parameters frozen both compute only the input gradient, as an attack step does.)
    attack = count(lambda: F.cross_entropy(model(xa), yb).backward())
    return {"forward": fwd, "train_step": train, "attack_step": attack}


def stages(fl: dict, peak: float, fit_ips: float, atk_ips: float) -> dict:
    """The default profile's three big stages: work, FLOPs, limit and measured seconds."""
    from errlib.stages.config import resolve

    p = resolve("default")
    n_train, n_sets = p.n_train or 60000, 2  # the whole MNIST training set; two error sets (det, rand)
    out = {
        "source_epoch": dict(what=f"1 source epoch on {n_train} images", flops=n_train * fl["train_step"],
                             measured_s=n_train / fit_ips),
        "attack": dict(what=f"{p.n_attack} images x {p.steps} steps x {n_sets} error sets",
                       flops=n_sets * p.n_attack * (p.steps * fl["attack_step"] + fl["forward"]),
                       measured_s=n_sets * p.n_attack * p.steps / atk_ips),
        "students": dict(what=f"{p.student_epochs} epochs on {p.n_attack} images x {n_sets} students",
                         flops=n_sets * p.student_epochs * p.n_attack * fl["train_step"],
                         measured_s=n_sets * p.student_epochs * p.n_attack / fit_ips),
    }
    for s in out.values():
        s["limit_s"] = s["flops"] / peak
        s["measured_over_limit"] = s["measured_s"] / s["limit_s"]
    return out


def throughputs(args) -> tuple:
    """errlib's training images/s and attack image-steps/s: from the given JSON files, else measured."""
    import attack
    import train

    def get(path, mod):
        if path:
            return json.loads(Path(path).read_text())
        log(f"  measuring errlib's {mod.__name__} throughput (no --{mod.__name__}-json)")
        return mod.measure(argparse.Namespace(quick=args.quick, rounds=1, only=["errlib"]))

    fit_ips = get(args.train_json, train)["errlib"]["images_per_s"]
    atk_ips = get(args.attack_json, attack)["errlib"]["image_steps_per_s"]
    return fit_ips, atk_ips


def measure(args) -> dict:
    sz = SIZES["quick" if args.quick else "full"]
    fit_ips, atk_ips = throughputs(args)
    default = TORCH_DEFAULT_THREADS
    peaks = {"1_thread": matmul_flops(sz["matmul_n"], sz["reps"], 1)}
    if default != 1:
        peaks[f"{default}_threads"] = matmul_flops(sz["matmul_n"], sz["reps"], default)
    peak = max(peaks.values())
    # bf16 beside it (smaller: where the CPU lacks bf16 instructions it is emulated, ~100x slower);
    # the attack's distance from this floor: benchmarks/precision.py
    bf16 = max(matmul_flops(sz["bf16_n"], sz["bf16_reps"], t, torch.bfloat16) for t in sorted({1, default}))
    fl = model_flops()
    return {"matmul_n": sz["matmul_n"], "matmul_flops_per_s": peaks, "peak_flops_per_s": peak,
            "bf16_matmul_n": sz["bf16_n"], "bf16_peak_flops_per_s": bf16,
            "flops_per_image": fl, "stages": stages(fl, peak, fit_ips, atk_ips),
            "note": "measured_s extrapolates errlib's throughput (training epoch, attack) to the default "
                    "profile's work; limit_s = counted conv/linear FLOPs / matmul FLOP/s"}


OPTIONS = {"--attack-json": "results of benchmarks/attack.py (errlib's attack throughput)",
           "--train-json": "results of benchmarks/train.py (errlib's training throughput)"}


def targets(res: dict) -> dict:
    return {"attack_vs_floor": target(res["stages"]["attack"]["measured_over_limit"], ATTACK_TARGET, "<=")}


def rows(res: dict) -> list:
    tg = targets(res)["attack_vs_floor"]
    out = []
    for k, s in res["stages"].items():
        out.append(f"| {k} vs its FLOP floor: {s['what']} | {s['measured_s']:.0f} s | limit {s['limit_s']:.1f} s | "
                   f"{fmt(s['measured_over_limit'], '.1f')} | {verdict(tg) if k == 'attack' else ''} |")
    fl = res["flops_per_image"]
    out.append(f"| (matmul {res['matmul_n']}^3: " + ", ".join(
        f"{k} {v / 1e9:.0f}" for k, v in res["matmul_flops_per_s"].items())
        + (f" GFLOP/s; bf16 {res['bf16_matmul_n']}^3: {res['bf16_peak_flops_per_s'] / 1e9:.2f}"
           if "bf16_peak_flops_per_s" in res else "") + f" GFLOP/s; per image MFLOP: forward {fl['forward'] / 1e6:.2f}, train step "
        f"{fl['train_step'] / 1e6:.2f}, attack step {fl['attack_step'] / 1e6:.2f}) | | | | |")
    return out


if __name__ == "__main__":
    main(__doc__, measure, rows, targets, OPTIONS)
