"""The evidence behind the course's default attack regime: robust-feature leakage vs eps, steps, keep.

For each point (a set of overrides of the ``default`` profile) it builds, through
errlib's cache, the source model, D_rand and D_det, the robust judge's reading of
each, and three students per set (unfiltered, judge-filtered, size-matched random
subset), then appends one JSON line of results to ``--out``:

    python docs/evidence/leakage_sweep.py --out docs/evidence/leakage_sweep.jsonl \\
        eps=4 eps=3 eps=2 eps=3,steps=100 eps=3,keep=successful dataset=fashion_mnist

Notebook 02 and the README read the committed ``leakage_sweep.jsonl`` to say why
the default regime was chosen. One point takes 4-8 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import time

from errlib import config, leakage, pipeline

CASTS = {"dataset": str, "eps": float, "steps": int, "seed": int, "n_attack": int, "keep": str,
         "student_epochs": int}


def parse_point(spec: str) -> dict:
    """``"eps=3,steps=100"`` -> ``{"eps": 3.0, "steps": 100}`` (names from :data:`CASTS`)."""
    out = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if name not in CASTS:
            raise SystemExit(f"unknown setting {name!r} in {spec!r}; allowed: {', '.join(CASTS)}")
        out[name] = CASTS[name](value)
    return out


def measure(cfg) -> dict:
    """One line of evidence for ``cfg``: :func:`errlib.stages.leakage.headline_row` plus the regime."""
    t0 = time.perf_counter()
    row = leakage.headline_row(cfg)
    judge = leakage.get_judge(cfg).result.metrics
    row.update(dataset=cfg.dataset, eps=cfg.eps, steps=cfg.steps, keep=cfg.keep, n_attack=cfg.n_attack,
               eps_over_image_norm=leakage.eps_ratio(cfg.eps, cfg.dataset), judge_eps=cfg.judge_eps,
               judge_robust_acc=judge["robust_acc"], chance=cfg.chance,
               seconds=round(time.perf_counter() - t0, 1))
    for rule, name in (("all", "D_rand"), ("shift", "D_det")):
        row[f"{name}_mean_delta_norm"] = pipeline.get_errset(cfg, rule).result.metrics["mean_delta_norm"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    ap.add_argument("points", nargs="+", help="overrides of the default profile, e.g. eps=3,steps=100")
    args = ap.parse_args()
    cfgs = [config.resolve("default", **parse_point(p)) for p in args.points]  # every point checked first
    for cfg in cfgs:
        row = measure(cfg)
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
