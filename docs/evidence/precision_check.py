"""The science under bf16 against fp32, on a reduced default profile: does bf16 change Part I's numbers?

For each (precision, seed) it builds, through errlib's cache, the source model,
D_rand and D_det and an unfiltered student on each, with the ``default``
profile's settings except the sizes given (by default 10,000 source images and
1,000 attacked images per error set, to fit bf16's emulated arithmetic on a CPU
without AMX/AVX512-BF16), and appends one JSON line to ``--out``:

    python docs/evidence/precision_check.py --out docs/evidence/precision_check.jsonl \\
        fp32:0 fp32:1 fp32:2 bf16:0

The judge and the leakage-controlled students are left out (the judge's
adversarial training is the most expensive stage; this is the cheap version of
issue 23's check). Read bf16's row against fp32's seed spread: a difference
within one fp32 sd is a difference the seed alone makes.
"""
from __future__ import annotations

import argparse
import json
import time

from errlib import config, pipeline

SIZES = dict(n_train=10000, n_attack=1000)


def measure(cfg) -> dict:
    """One line: the source's clean accuracy, each set's attack success and its student's accuracy."""
    t0 = time.perf_counter()
    source = pipeline.get_source(cfg)
    row = {"precision": cfg.resolved_precision, "seed": cfg.seed, "n_train": cfg.n_train, "n_attack": cfg.n_attack,
           "eps": cfg.eps, "steps": cfg.steps, "source_clean_test_acc": source.result.metrics["test_acc"]}
    for rule, name in (("all", "D_rand"), ("shift", "D_det")):
        errset = pipeline.get_errset(cfg, rule, source=source)
        student = pipeline.get_student(cfg, rule, errset=errset).result.metrics
        row.update({f"{name}_attack_success": errset.result.metrics["success_rate"],
                    f"{name}_mean_delta_norm": errset.result.metrics["mean_delta_norm"],
                    f"{name}_student_clean_test_acc": student["test_acc"],
                    f"{name}_student_predicts_y_plus_1": student["test_acc_shifted"]})
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    ap.add_argument("points", nargs="+", help="precision:seed, e.g. fp32:0 bf16:0")
    args = ap.parse_args()
    cfgs = []
    for p in args.points:
        prec, _, seed = p.partition(":")
        cfgs.append(config.resolve("default", precision=prec, seed=int(seed), **SIZES))  # all checked first
    for cfg in cfgs:
        row = measure(cfg)
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
