#!/usr/bin/env python
"""errlib's benchmarks, all of them: each file in its own process, one table, benchmarks/results.json.

    ERRLIB_DATA=/path/to/data python benchmarks/run.py [--baseline REV|DIR] [--course-results PATH]
                                                      [--quick] [--threads N] [--only NAME ...] [--out FILE]

Runs, each as ``python benchmarks/<name>.py`` with this checkout's errlib:
attack (vs torchattacks PGDL2), train (vs a bare loop and DataLoader pipelines),
floors (each default-profile stage against its FLOP floor, from the attack and
train throughputs), precision (fp32 against bf16 autocast in alternating
processes, each against the floor of its precision), settings (errlib's thread count and attack batch size against
the alternatives), sweep (``--jobs 2`` vs ``--jobs 1``), course (reads
``--course-results``), alone (notebook 04 alone, in the kernel and on every core) and
learner_path (every notebook alone, in order, cold). With ``--only``, the other files' results
already in ``--out`` are kept, each with the date and load it was measured under, and the
headline keys, targets and table are made again from all of them: a partial rerun never drops
a measurement; ``--record NAME=FILE`` records a file's results measured on their own (``python
benchmarks/alone.py --rounds 3 --out FILE``) the same way, and ``--record NAME@VARIANT=FILE`` beside
them, under its own key (``alone@fp32``: ``alone.py --precision fp32``), with its own rows and
targets (``nb04_alone_speedup@fp32``); the headline keys stay the plain files'.
``--baseline REV`` also runs attack.py and train.py with errlib as of git revision REV
(checked out with ``git archive``, first on PYTHONPATH) in processes alternated with this
checkout's: a before/after figure.
Prints a markdown table; the JSON holds every file's results, the headline keys
and every target with whether it is met. Writing the committed record (the default ``--out``) also
makes again each marked block of benchmarks/README.md (``<!-- alone@fp32:start -->``) from it. Method and history: benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import alone
import attack
import course
import floors
import learner_path
import precision
import settings
import sweep
import train
import trees
from common import REPO, TABLE_HEAD, log, loadavg

RESULTS, README = REPO / "benchmarks" / "results.json", REPO / "benchmarks" / "README.md"
BENCHMARKS = {"attack": attack, "train": train, "floors": floors, "precision": precision, "settings": settings,
              "sweep": sweep, "course": course, "alone": alone, "learner_path": learner_path}


def arguments(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every benchmark")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--baseline", default=None, metavar="REV|DIR",
                    help="also time errlib's attack and training as of this git revision (before/after)")
    ap.add_argument("--baseline-rounds", type=int, default=None,
                    help="process pairs for the before/after figures (default 3, --quick 1)")
    ap.add_argument("--course-results", default=None,
                    help="results.json of `python -m errlib.run.course run --profile default` (course seconds)")
    ap.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=None,
                    help="run only these files; the others' results already in --out are kept")
    ap.add_argument("--record", nargs="+", default=[], metavar="NAME=FILE",
                    help="a file's results measured separately (its own --out), recorded as they are, not run "
                         "again; with --only's merge (the others already in --out are kept)")
    ap.add_argument("--out", default=str(RESULTS), help="JSON output path")
    args = ap.parse_args(argv)
    args.record = dict(recorded(r, ap) for r in args.record)
    if args.record:
        args.only = list(dict.fromkeys((args.only or []) + list(args.record)))
    return args


def recorded(spec: str, ap: argparse.ArgumentParser):
    """``NAME=FILE`` or ``NAME@VARIANT=FILE`` as (the key, results): a known file's name (and a
    variant's label) and a results JSON that exists."""
    name, _, path = spec.partition("=")
    base, at, variant = name.partition("@")
    if (base not in BENCHMARKS or (at and not re.fullmatch(r"[a-z0-9_]+", variant)) or not path
            or not Path(path).is_file()):
        ap.error(f"--record {spec}: want NAME=FILE or NAME@VARIANT=FILE, NAME one of {', '.join(BENCHMARKS)}, "
                 "VARIANT lower-case letters, digits and _, FILE an existing results JSON")
    try:
        res = json.loads(Path(path).read_text())
    except ValueError as err:
        ap.error(f"--record {spec}: not JSON ({err})")
    if not isinstance(res, dict) or "meta" not in res or "error" in res:
        ap.error(f"--record {spec}: not the results of benchmarks/{base}.py --out (no 'meta', or an 'error')")
    return name, res


def run_all(args, tmp: Path) -> dict:
    """Every chosen benchmark file's results (or its error), by name."""
    common = (["--quick"] if args.quick else []) + (["--threads", str(args.threads)] if args.threads else [])
    out = {}
    for name in args.only or BENCHMARKS:
        if name in args.record:
            out[name] = args.record[name]
            continue
        extra = []
        if name == "floors":  # errlib's throughputs from the attack and train runs, where they ran
            extra = [f"--{k}-json={tmp / f'{k}.json'}" for k in ("attack", "train")
                     if k in out and "error" not in out[k]]
        if name == "course" and args.course_results:
            extra = ["--course-results", args.course_results]
        log(f"{name}")
        try:
            out[name] = trees.run_file(name, REPO, common + extra, tmp / f"{name}.json")
        except RuntimeError as err:
            log(f"  FAILED: {err}")
            out[name] = {"error": str(err)}
    rounds = args.baseline_rounds or (1 if args.quick else 3)
    out["baseline"] = trees.baseline(args.baseline, common, rounds, tmp)
    return out


def headline(res: dict) -> dict:
    """The figures issue 15 names, at the top level of results.json (None: not measured)."""
    get = lambda name, key: res.get(name, {}).get(key)  # noqa: E731
    return {"attack_vs_torchattacks": get("attack", "ratio_errlib_vs_torchattacks"),
            "train_vs_bare": get("train", "ratio_errlib_vs_bare"),
            "train_vs_mnist_example": get("train", "ratio_errlib_vs_mnist_example"),
            "attack_vs_floor": (get("floors", "stages") or {}).get("attack", {}).get("measured_over_limit"),
            "sweep_jobs_speedup": get("sweep", "sweep_jobs_speedup"),
            "bf16_attack_speedup": (get("precision", "bf16_attack_speedup") or {}).get("median"),
            "bf16_train_speedup": (get("precision", "bf16_train_speedup") or {}).get("median"),
            "course_seconds": get("course", "course_seconds"),
            "course_core_seconds": get("course", "course_core_seconds"),
            "nb04_alone_speedup": get("alone", "nb04_alone_speedup"),
            "cpu_utilisation": get("course", "cpu_utilisation")}


def sections(res: dict) -> list:
    """``(key, module)`` of each file's section in ``res``, each file's recorded variants
    (``alone@fp32``) right after it."""
    return [(k, mod) for name, mod in BENCHMARKS.items()
            for k in [name] + sorted(k for k in res if k.startswith(name + "@")) if k in res]


def targets(res: dict) -> dict:
    """Every section's targets; a variant's keys carry its ``@VARIANT`` (``nb04_alone_speedup@fp32``)."""
    out = {}
    for key, _ in sections(res):
        at = "".join(key.partition("@")[1:])  # "@fp32", or "" for a plain file
        out.update({k + at: v for k, v in (res[key].get("targets") or {}).items()})
    return out


def table(res: dict, meta: dict) -> str:
    lines = [f"errlib benchmarks ({'quick' if meta['quick'] else 'full'}), torch {meta.get('torch')}, "
             f"{meta.get('threads')} threads, {meta.get('cpu_count')} CPUs, load avg {meta['loadavg_start']} -> "
             f"{meta['loadavg_end']}", ""] + TABLE_HEAD
    for name, mod in sections(res):
        if "error" in res[name]:
            lines.append(f"| {name} | — | — | — | FAILED: {res[name]['error'][-200:]} |")
        else:
            lines += mod.rows(res[name])
    lines += trees.rows(res.get("baseline"))
    return "\n".join(lines + separately(res, meta))


def separately(res: dict, meta: dict) -> list:
    """A note for each file's results measured on another day than the run's (kept by ``--only``)."""
    notes = []
    for name, _ in sections(res):
        m = res[name].get("meta") or {}
        if m.get("date") and m["date"][:10] != (meta.get("date") or "")[:10]:
            at = f" at {m['commit']}" if m.get("commit") else ""
            notes.append(f"({name}: benchmarks/{name.partition('@')[0]}.py run on {m['date']}{at}, "
                         f"{m.get('threads')} thread(s), "
                         f"{m.get('cpu_count')} CPUs, load avg {m.get('loadavg_start')} -> {m.get('loadavg_end')})")
    return [""] + notes if notes else []


def readme_blocks(text: str, res: dict) -> str:
    """``text`` (benchmarks/README.md) with each ``<!-- KEY:start -->`` ... ``<!-- KEY:end -->``
    block made again from section KEY of ``res``, by its file's ``readme_block`` (the numbers a
    README section shows come from the record, not typed by hand)."""
    for key, mod in sections(res):
        start, end = f"\n<!-- {key}:start -->\n", f"\n<!-- {key}:end -->\n"  # markers on lines of their own
        if start in text and hasattr(mod, "readme_block") and "error" not in res[key]:
            head, rest = text.split(start, 1)
            tail = rest.split(end.lstrip("\n"), 1)[1]
            text = head + start + "\n".join(mod.readme_block(res[key])) + end + tail
    return text


def merged(res: dict, out: Path, only) -> dict:
    """``res`` (the files run now) over what ``out`` already holds when only some files ran:
    the others' sections, and any other record kept there (``course_by_jobs``), stay as they were."""
    if not only or not out.exists():
        return res
    old = json.loads(out.read_text())
    made = set(headline({})) | {"meta", "targets", "table"}
    kept = {k: v for k, v in old.items() if k not in made and res.get(k) is None}
    return dict(res, **kept)


def main(argv=None) -> dict:
    args = arguments(argv)
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        sys.exit("torchattacks is not installed: pip install --no-deps -r requirements-bench.txt "
                 "(see benchmarks/README.md)")
    t0 = time.perf_counter()
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="errlib-bench-") as tmp:
        now = run_all(args, Path(tmp))
    first = next((r["meta"] for r in now.values() if isinstance(r, dict) and "meta" in r), {})
    res = merged(now, out, args.only)
    meta = dict(first, loadavg_start=first.get("loadavg_start"), loadavg_end=loadavg(),
                baseline_rev=args.baseline, course_results=args.course_results,
                seconds=round(time.perf_counter() - t0, 1), quick=args.quick)
    res.update(headline(res), meta=meta)
    res["targets"] = targets(res)
    res["table"] = table(res, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    if out.resolve() == RESULTS.resolve():  # the committed record: its README blocks follow it
        README.write_text(readme_blocks(README.read_text(), res))
    print(res["table"])
    print(f"\n{meta['seconds']:.0f}s; results in {out}")
    return res


if __name__ == "__main__":
    main()
