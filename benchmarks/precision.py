#!/usr/bin/env python
"""errlib's attack and training in fp32 against bf16 autocast, in alternating processes; each against its floor.

    ERRLIB_DATA=/path/to/data python benchmarks/precision.py [--quick] [--rounds N] [--threads N] [--out FILE]

``--rounds`` process pairs, fp32 and bf16 (errlib.core.precision), their order
alternating: each process trains the course CNN 1 epoch in fp32 on the same
images (the same weights in both), sets the model's precision, then times
``pgd`` (targeted L2, eps 4, no random start) and one ``fit`` epoch from the same
initial weights, median of 2 in-process repeats. ``bf16_attack_speedup`` and
``bf16_train_speedup`` are medians over the pairs of (fp32 time / bf16 time);
the pairs' spread is kept. Each process also times the course CNN's
channels-last layout (errlib's) against a contiguous twin of the same weights,
interleaved in-process. In the parent: a square matmul in float32 and in bfloat16
(1 thread and torch's default) gives each precision's FLOP/s, and the attack's
counted FLOPs (benchmarks/floors.py) give its distance from the floor of the
precision it runs in. The CPU's bf16 instructions and what ``auto`` resolves to
are recorded: where they are missing, bf16 is emulated and slower, as measured.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import (TORCH_DEFAULT_THREADS, attack_inputs, fmt, interleave, log, main, median, mnist, source_model,
                    target, verdict)

HERE = Path(__file__).resolve().parent
EPS = 4.0
SIZES = {"full": dict(source_n=4096, attack_n=128, steps=10, train_n=1024, rounds=3, matmul_n=512, reps=3),
         "quick": dict(source_n=512, attack_n=16, steps=2, train_n=128, rounds=1, matmul_n=64, reps=2)}
TARGETS = {"bf16_attack_speedup": 2.0, "bf16_train_speedup": 1.8}  # issue 23, on a CPU with native bf16


def contiguous_twin(model: torch.nn.Module) -> torch.nn.Module:
    """The same course CNN, weights and precision, with its convolutions in the contiguous (NCHW) layout."""
    twin = copy.deepcopy(model)
    net = twin[1]
    net.features.to(memory_format=torch.contiguous_format)
    net.forward = lambda x: net.classifier(net.features(x.contiguous()))
    return twin


def worker(prec: str, size: str, out: Path) -> None:
    """One process: this precision's attack and training times, and channels-last vs contiguous."""
    from errlib.core.attacks import pgd
    from errlib.core.models import make_model
    from errlib.core.train import fit

    sz = SIZES[size]
    (X, y), (Xt, yt) = mnist()
    model = source_model(X, y, sz["source_n"]).set_precision(prec)
    x, labels = attack_inputs(Xt, yt, sz["attack_n"])
    Xtr, ytr = X[:sz["train_n"]], y[:sz["train_n"]]
    got = {}

    def attack(m, key):
        def run():
            res = pgd(m, x, labels, eps=EPS, steps=sz["steps"], random_start=False, batch_size=len(x), progress=False)
            got[key] = {"success_rate": res.success_rate, "max_l2": res.delta_norm.max().item(),
                        "in_box": bool(res.x_adv.min() >= 0 and res.x_adv.max() <= 1)}
        return run

    def train(layout):
        def run():
            m = make_model("cnn", "mnist", seed=0, precision=prec)
            m = contiguous_twin(m) if layout == "contiguous" else m
            got[f"train_{layout}"] = fit(m, Xtr, ytr, epochs=1, seed=0, progress=False)[-1]["train_loss"]
        return run

    twin = contiguous_twin(model)
    attack(model, "warm")()  # oneDNN primitives, allocator; not timed
    runs = {"attack": attack(model, "attack"), "attack_contiguous": attack(twin, "attack_contiguous"),
            "train": train("channels_last"), "train_contiguous": train("contiguous")}
    times = interleave(runs, 2)
    res = {"precision": prec, "seconds": times, "median_s": {k: median(v) for k, v in times.items()}, **got}
    out.write_text(json.dumps(res))


def run_worker(prec: str, size: str, threads: int, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", str(HERE.parent)))
    cmd = [sys.executable, str(HERE / "precision.py"), "--worker", prec, "--size", size, "--threads", str(threads),
           "--worker-out", str(out)]
    got = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if got.returncode != 0:
        raise RuntimeError(f"precision worker {prec} exited {got.returncode}: {got.stderr.strip()[-800:]}")
    return json.loads(out.read_text())


def pairs(size: str, rounds: int, threads: int, tmp: Path) -> dict:
    """``rounds`` fp32/bf16 process pairs, order alternating; every worker's results by precision."""
    out = {"fp32": [], "bf16": []}
    for r in range(rounds):
        for prec in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            t0 = time.perf_counter()
            out[prec].append(run_worker(prec, size, threads, tmp / f"{prec}-{r}.json"))
            log(f"    pair {r + 1}/{rounds}: {prec} process {time.perf_counter() - t0:.0f} s, attack "
                f"{out[prec][-1]['median_s']['attack']:.2f} s, train {out[prec][-1]['median_s']['train']:.2f} s")
    return out


def matmul_peaks(n: int, reps: int) -> dict:
    """FLOP/s of an ``n``-square matmul per dtype, at 1 thread and at torch's default; the faster counts."""
    from floors import matmul_flops

    threads = sorted({1, TORCH_DEFAULT_THREADS})
    return {name: max(matmul_flops(n, reps, t, dtype=dt) for t in threads)
            for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}


def cpu_record() -> dict:
    from errlib.core import precision as P

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_flags": P.cpu_bf16_flags(),
            "native_bf16": P.native_bf16("cpu"), "auto_resolves_to": P.choose("auto", "cpu"),
            "auto_explained": P.explain("auto", "cpu")}


def speedups(w: dict, key: str) -> dict:
    """fp32 time / bf16 time over the process pairs: median, min, max, each pair's."""
    each = [f["median_s"][key] / b["median_s"][key] for f, b in zip(w["fp32"], w["bf16"])]
    return {"median": median(each), "min": min(each), "max": max(each), "pairs": each}


def layout(w: dict, prec: str, key: str) -> float:
    """channels-last speed-up over contiguous (contiguous time / channels-last time), median over processes."""
    return median([r["median_s"][f"{key}_contiguous"] / r["median_s"][key] for r in w[prec]])


def measure(args) -> dict:
    import tempfile

    from floors import model_flops

    size = "quick" if args.quick else "full"
    sz = SIZES[size]
    rounds = args.rounds or sz["rounds"]
    threads = args.threads or torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="errlib-precision-") as tmp:
        w = pairs(size, rounds, threads, Path(tmp))
    peaks = matmul_peaks(sz["matmul_n"], sz["reps"])
    step_flops = model_flops()["attack_step"]
    res = {"sizes": dict(sz, rounds=rounds, threads=threads), "cpu": cpu_record(), "workers": w,
           "bf16_attack_speedup": speedups(w, "attack"), "bf16_train_speedup": speedups(w, "train"),
           "matmul_flops_per_s": peaks, "attack_step_flops": step_flops, "attack": {}, "channels_last": {}}
    for prec in ("fp32", "bf16"):
        t = median([r["median_s"]["attack"] for r in w[prec]])
        ips = sz["attack_n"] * sz["steps"] / t
        res["attack"][prec] = {"image_steps_per_s": ips, "over_floor": peaks[prec] / (ips * step_flops),
                               "success_rate": median([r["attack"]["success_rate"] for r in w[prec]]),
                               "max_l2": max(r["attack"]["max_l2"] for r in w[prec]),
                               "in_box": all(r["attack"]["in_box"] for r in w[prec])}
        res["channels_last"][prec] = {"attack": layout(w, prec, "attack"), "train": layout(w, prec, "train")}
    return res


def targets(res: dict) -> dict:
    return {k: target(res[k]["median"], goal) for k, goal in TARGETS.items()}


def rows(res: dict) -> list:
    tg, a, c = targets(res), res["attack"], res["cpu"]
    sz = res["sizes"]
    out = []
    for key, what in (("bf16_attack_speedup", f"attack ({sz['attack_n']} x {sz['steps']} steps)"),
                      ("bf16_train_speedup", f"training epoch ({sz['train_n']} images)")):
        s = res[key]
        out.append(f"| bf16 autocast vs fp32, {what}, {sz['rounds']} process pairs | {fmt(s['median'])} | "
                   f"range {fmt(s['min'])}-{fmt(s['max'])} | {fmt(s['median'])} | {verdict(tg[key])} |")
    for prec in ("fp32", "bf16"):
        out.append(f"| attack in {prec}, image-steps/s (success {a[prec]['success_rate']:.3f}, max L2 "
                   f"{a[prec]['max_l2']:.3f}) | {a[prec]['image_steps_per_s']:.0f} | {prec} matmul "
                   f"{res['matmul_flops_per_s'][prec] / 1e9:.2f} GFLOP/s | {fmt(a[prec]['over_floor'], '.1f')} "
                   f"its floor | |")
        cl = res["channels_last"][prec]
        out.append(f"| channels-last vs contiguous, {prec} (attack / training) | {fmt(cl['attack'])} | "
                   f"{fmt(cl['train'])} | | |")
    out.append(f"| (CPU {c['cpu_capability']}, bf16 instructions {c['bf16_flags'] or 'unknown'}: auto -> "
               f"{c['auto_resolves_to']}) | | | | |")
    return out


def _worker_main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", choices=["fp32", "bf16"])
    ap.add_argument("--size", choices=list(SIZES))
    ap.add_argument("--threads", type=int)
    ap.add_argument("--worker-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.pop("ERRLIB_THREADS", None)
    os.environ.setdefault("ERRLIB_PROGRESS", "0")
    worker(args.worker, args.size, Path(args.worker_out))


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker_main()
    else:
        main(__doc__, measure, rows, targets)
