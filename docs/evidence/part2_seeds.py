"""Part II over seeds at a profile, one JSON line per seed (:func:`errlib.stages.wallace.part2_row`).

    ERRLIB_THREADS=1 python docs/evidence/part2_seeds.py --out docs/evidence/part2_seeds.jsonl

Each line is one seed's row (fractions in [0, 1]) with the commit and thread count it ran
under; the last line printed is the mean and sd over the seeds (:func:`~errlib.stages.wallace.over_seeds`).
Default profile: about 12-20 minutes per seed on a busy 2-core CPU at one thread.
``part2_seeds.jsonl`` also holds one line from the code before the named-seeds refactor
(``c2e4e04^``, ``errlib/pipeline.py``'s ``get_cross_domain_student``, seed 0, raw images), the
measurement behind notebook 05's per-digit spread section and docs/history.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time

from errlib.stages import config, wallace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    config.add_profile_argument(ap)
    ap.add_argument("--seeds", type=int, nargs="*", help="seeds (default: the profile's seed list)")
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = ap.parse_args()
    cfg = config.resolve(args.profile)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = []
    for s in args.seeds or wallace.seed_list(cfg):
        t0 = time.time()
        row = dict(wallace.part2_row(cfg.replace(seed=s)), profile=cfg.profile, commit=commit,
                   threads=os.environ.get("ERRLIB_THREADS"), seconds=round(time.time() - t0, 1))
        rows.append(row)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v["value"] for k, v in wallace.over_seeds(rows).items()}, indent=1))


if __name__ == "__main__":
    main()
