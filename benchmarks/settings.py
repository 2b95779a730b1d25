#!/usr/bin/env python
"""errlib's own CPU settings against their alternatives: 1 thread vs torch's default, attack batch sizes.

    ERRLIB_DATA=/path/to/data python benchmarks/settings.py [--quick] [--out FILE]

``threads``: errlib's attack and training epoch at 1 intra-op thread against
torch's default count (``errlib.core.parallel.num_threads``), interleaved; on a loaded
machine OpenMP hand-offs dominate. ``attack_batch``: errlib's attack throughput at
batch sizes 256, 512 (the default profile's ``attack_batch_size``) and 1024.
"""
from __future__ import annotations

from common import (TORCH_DEFAULT_THREADS, attack_inputs, fmt, interleave, log, main, median, mnist, paired_ratio,
                    source_model)

SIZES = {"full": dict(source_n=10000, attack_n=256, steps=20, train_n=2560, rounds=3, batch_n=2048,
                      batch_steps=5),
         "quick": dict(source_n=1024, attack_n=32, steps=5, train_n=256, rounds=1, batch_n=512, batch_steps=1)}
BATCHES = (256, 512, 1024)


def attack(model, x, labels, steps: int, batch_size: int, nthreads=None):
    from errlib.core.attacks import pgd
    from errlib.core.parallel import num_threads

    def run():
        with num_threads(nthreads):
            pgd(model, x, labels, eps=4.0, steps=steps, batch_size=batch_size, progress=False)
    return run


def epoch(X, y, nthreads):
    from errlib.core.models import make_model
    from errlib.core.parallel import num_threads
    from errlib.core.train import fit

    def run():
        with num_threads(nthreads):
            fit(make_model("cnn", "mnist", seed=0), X, y, epochs=1, progress=False)
    return run


def threads(model, X, y, Xt, yt, sz, rounds) -> dict:
    """errlib's attack and training epoch at 1 thread vs torch's default thread count."""
    d = TORCH_DEFAULT_THREADS
    if d == 1:
        return {"default_threads": 1, "note": "torch already uses 1 thread; nothing to compare"}
    n, nt = sz["attack_n"], sz["train_n"]
    x, labels = attack_inputs(Xt, yt, n)
    log(f"  threads: 1 vs {d}; attack {n} x {sz['steps']} steps, one epoch on {nt} images")
    t = interleave({"attack_1": attack(model, x, labels, sz["steps"], n, 1),
                    f"attack_{d}": attack(model, x, labels, sz["steps"], n, d),
                    "train_1": epoch(X[:nt], y[:nt], 1), f"train_{d}": epoch(X[:nt], y[:nt], d)}, rounds)
    return {"default_threads": d, "seconds": t, "attack_speedup_1_thread": paired_ratio(t, "attack_1", f"attack_{d}"),
            "train_speedup_1_thread": paired_ratio(t, "train_1", f"train_{d}")}


def attack_batch(model, X, y, sz, rounds) -> dict:
    """errlib's attack throughput by batch size (on a CPU, smaller batches keep activations in cache)."""
    n, steps = sz["batch_n"], sz["batch_steps"]
    x, labels = attack_inputs(X, y, n)
    log(f"  attack batch size: {n} images x {steps} steps")
    t = interleave({str(b): attack(model, x, labels, steps, b) for b in BATCHES}, rounds)
    return {"n_images": n, "steps": steps, "seconds": t,
            "image_steps_per_s": {b: n * steps / median(s) for b, s in t.items()},
            "ratio_512_vs_1024": paired_ratio(t, "512", "1024"), "ratio_256_vs_1024": paired_ratio(t, "256", "1024")}


def measure(args) -> dict:
    sz = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or sz["rounds"]
    (X, y), (Xt, yt) = mnist()
    model = source_model(X, y, sz["source_n"])
    attack(model, *attack_inputs(Xt, yt, 32), 2, 32)()  # warm-up
    return {"threads": threads(model, X, y, Xt, yt, sz, rounds), "attack_batch": attack_batch(model, X, y, sz, rounds)}


def rows(res: dict) -> list:
    ab, th = res["attack_batch"], res["threads"]
    rate = ab["image_steps_per_s"]
    out = [f"| attack batch 512 vs 1024 (256 vs 1024), image-steps/s | {rate['512']:.0f} | {rate['1024']:.0f} | "
           f"{fmt(ab['ratio_512_vs_1024'])} ({fmt(ab['ratio_256_vs_1024'])}) | |"]
    if "attack_speedup_1_thread" in th:
        out.append(f"| 1 thread vs {th['default_threads']} (errlib attack / training) | | | "
                   f"{fmt(th['attack_speedup_1_thread'])} / {fmt(th['train_speedup_1_thread'])} | (load-dependent) |")
    return out


if __name__ == "__main__":
    main(__doc__, measure, rows)
