"""Before/after figure for errlib.core.parallel.MALLOC_ENV (glibc's mmap and trim thresholds).

The setting is process-wide and read by glibc when a process starts, so this
script starts fresh Python processes, alternating glibc's defaults and
``MALLOC_ENV`` in the environment (what the course gives its processes), each running the same workload on the
course CNN: a training epoch, a PGD attack and a prediction pass, each timed on
its first call (as a notebook makes it) and on two repeats, with the minor page
faults each call took. Prints a table and the paired ratios; ``--out`` writes JSON.

    .venv/bin/python benchmarks/allocator.py [--rounds 4] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from errlib.core.parallel import MALLOC_ENV

STAGES = ("fit", "pgd", "predict")


def workload() -> dict:
    """Run in a child process: seconds and minor page faults per call, per stage."""
    import torch

    from errlib.core.attacks import pgd
    from errlib.core.models import make_model
    from errlib.core.train import fit, predict

    gen = torch.Generator().manual_seed(0)
    X = (torch.rand(5120, 1, 28, 28, generator=gen) * 255).to(torch.uint8)
    y = torch.randint(0, 10, (5120,), generator=gen)
    model = make_model("cnn", "mnist", seed=0)
    calls = {"fit": lambda: fit(model, X, y, epochs=1, seed=0, progress=False),
             "pgd": lambda: pgd(model, X[:512].float() / 255, (y[:512] + 1) % 10, eps=2.0, steps=20,
                                progress=False),
             "predict": lambda: predict(model, X)}
    out = {"malloc_env": {k: os.environ.get(k) for k in MALLOC_ENV}, "threads": torch.get_num_threads()}
    for stage in STAGES:
        rows = []
        for _ in range(3):  # the first call is the cold one
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            calls[stage]()
            rows.append((time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0))
        out[stage] = {"first_s": rows[0][0], "repeat_s": min(r[0] for r in rows[1:]),
                      "first_faults": rows[0][1], "repeat_faults": max(r[1] for r in rows[1:])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4, help="process pairs (default 4)")
    ap.add_argument("--out", help="write the runs as JSON here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(workload()))
        return
    runs = {"0": [], "1": []}
    for r in range(args.rounds):
        for flag in (("0", "1") if r % 2 == 0 else ("1", "0")):
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            env.update(MALLOC_ENV if flag == "1" else {})
            res = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True,
                                 capture_output=True, text=True)
            runs[flag].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}, {'MALLOC_ENV' if flag == '1' else 'glibc defaults'}: "
                  + ", ".join(f"{s} {runs[flag][-1][s]['first_s']:.2f}s" for s in STAGES), flush=True)
    print(f"\n{'call':<16}{'glibc defaults':>16}{'errlib':>10}{'ratio':>8}{'faults (defaults -> errlib)':>32}")
    summary = {}
    for stage in STAGES:
        for kind in ("first", "repeat"):
            before = [run[stage][f"{kind}_s"] for run in runs["0"]]
            after = [run[stage][f"{kind}_s"] for run in runs["1"]]
            row = {"defaults_s": statistics.median(before), "errlib_s": statistics.median(after),
                   "paired_ratio": statistics.median(b / a for b, a in zip(before, after)),
                   "faults": [statistics.median(run[stage][f"{kind}_faults"] for run in runs[flag])
                              for flag in ("0", "1")]}
            summary[f"{stage}_{kind}"] = row
            print(f"{stage + ' ' + kind:<16}{row['defaults_s']:>15.3f}s{row['errlib_s']:>9.3f}s"
                  f"{row['paired_ratio']:>7.2f}x{row['faults'][0]:>20.0f} -> {row['faults'][1]:.0f}")
    print("(median over rounds; ratio = time with glibc's defaults / time with errlib's setting, "
          "paired by round; faults = minor page faults per call)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"runs": runs, "summary": summary, "loadavg": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
