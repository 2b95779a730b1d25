#!/usr/bin/env python
"""errlib's benchmarks: attack and training throughput beside common baselines, and the floor.

    ERRLIB_DATA=/path/to/data python benchmarks/run.py [--quick] [--out benchmarks/results.json]
                                                      [--course-results PATH] [--baseline REV|DIR]

One process, one run, on whatever machine it is started on. Absolute times on a
small shared CPU are noisy, so every comparison is a RATIO measured side by side:
the contenders run interleaved (their order rotated each round), each round
gives one paired ratio, and the tables report medians. Sections:

* attack     errlib's targeted L2 PGD (``errlib.attacks.pgd``, no random start)
             vs torchattacks ``PGDL2`` in targeted mode on the same model, batch,
             eps, steps and step size; image-steps/s, success rates, ratio.
* training   one epoch of ``errlib.train.fit`` vs a bare PyTorch loop on the same
             in-memory tensors, vs a torchvision DataLoader + ToTensor pipeline
             (num_workers 0 and 1; the better one is reported) and vs the PyTorch
             MNIST example's pipeline (ToTensor + Normalize per image, num_workers 0
             as the example runs on a CPU); images/s, ratios.
* threads    errlib's attack and training epoch at 1 intra-op thread vs torch's
             default, interleaved (on a loaded machine OpenMP hand-offs dominate).
* attack_batch  errlib's attack throughput at batch sizes 256, 512 and 1024 (the
             default profile's ``attack_batch_size``).
* floor      a float32 matmul gives the machine's FLOP/s; the course CNN's FLOPs
             per image (torch.utils.flop_counter) give each default-profile
             stage's limit time; measured / limit per stage.
* end_to_end the default profile's seconds per notebook, read from a course
             results file (``python -m errlib.course run`` writes it) if given.

``--baseline REV`` also runs errlib's models.py, attacks.py and train.py as they
were at git revision REV (``git show``; or from a folder holding copies of the
three files) as extra contenders (attack, training epoch, evaluation of 10,000
images): a before/after figure for a change to those modules, measured in the
same process.

Every contender runs with the same thread count (``--threads``, else torch's
default); ``ERRLIB_THREADS`` is ignored here so errlib gets no private setting.

``--quick`` shrinks everything to a smoke test (under a minute). Needs torchattacks
(``pip install --no-deps -r requirements-bench.txt``, see benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import errlib  # noqa: E402,F401
from errlib import attacks as E_attacks  # noqa: E402
from errlib import train as E_train  # noqa: E402
from errlib.data import dataset_info, load_dataset, to_float  # noqa: E402
from errlib.errsets import make_targets  # noqa: E402
from errlib.models import make_model  # noqa: E402

# The default profile's work per stage (errlib/config.py, profile "default").
DEFAULT_PROFILE = dict(n_train=60000, epochs=3, n_attack=20000, steps=20, eps=4.0, n_sets=2,
                       student_epochs=10, batch_size=128)

SIZES = {
    # source: images the attacked model trains on (1 epoch); attack: images x steps, rounds;
    # train: images per measured epoch, rounds; threads: the same for the thread sweep.
    "full": dict(source_n=10000, attack_n=512, attack_steps=20, attack_rounds=5,
                 train_n=5120, train_rounds=5, thr_attack_n=256, thr_train_n=2560, thr_rounds=3,
                 matmul_n=1024, matmul_reps=15, batch_n=2048, batch_steps=5, batch_rounds=3),
    "quick": dict(source_n=2048, attack_n=64, attack_steps=10, attack_rounds=2,
                  train_n=640, train_rounds=2, thr_attack_n=32, thr_train_n=256, thr_rounds=1,
                  matmul_n=512, matmul_reps=5, batch_n=1024, batch_steps=1, batch_rounds=1),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median(xs: List[float]) -> float:
    return float(statistics.median(xs))


class threads:
    """Temporarily set torch's intra-op thread count."""

    def __init__(self, n: Optional[int]):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def interleave(contenders: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, List[float]]:
    """Run every contender once per round, the order rotated each round; seconds per call."""
    names = list(contenders)
    times: Dict[str, List[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t0 = time.perf_counter()
            contenders[k]()
            times[k].append(time.perf_counter() - t0)
        log(f"    round {r + 1}/{rounds}: " + ", ".join(f"{k} {times[k][-1]:.2f}s" for k in names))
    return times


def paired_ratio(times: Dict[str, List[float]], fast: str, slow: str) -> float:
    """Median over rounds of time[slow] / time[fast]: how many times faster ``fast`` is."""
    return median([s / f for f, s in zip(times[fast], times[slow])])


def load_rev_modules(rev: str):
    """errlib's models.py, train.py, attacks.py (and parallel.py where it exists) at git revision
    (or in folder) ``rev``, as modules.

    They become modules of package errlib: their imports of each other (``from
    .train import ...``) resolve to the same revision's modules, every other
    relative import (``from .data import ...``) to today's errlib.
    """
    mods = {}
    names = ("parallel", "models", "train", "attacks")  # dependencies first
    folder = Path(rev) if Path(rev).is_dir() else None
    sources = {}
    for name in names:
        if folder is not None:
            path = folder / f"{name}.py"
            src = path.read_text() if path.is_file() else None
        else:
            got = subprocess.run(["git", "show", f"{rev}:errlib/{name}.py"], cwd=REPO,
                                 capture_output=True, text=True)
            src = got.stdout if got.returncode == 0 else None
        if src is None and name != "parallel":  # parallel.py is newer than the first baselines
            raise FileNotFoundError(f"errlib/{name}.py not found at {rev!r}")
        if src is not None:
            sources[name] = src
    siblings = re.compile(r"^(\s*from \.)(" + "|".join(sources) + r")( import )", re.M)
    for name, src in sources.items():
        src = siblings.sub(r"\1_bench_base_\2\3", src)  # imports of each other: the same revision
        modname = f"errlib._bench_base_{name}"
        spec = importlib.util.spec_from_loader(modname, loader=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "errlib"  # so ``from .data import ...`` resolves to today's errlib
        sys.modules[modname] = mod
        exec(compile(src, f"{rev}:errlib/{name}.py", "exec"), mod.__dict__)
        mods[name] = mod
    return mods


# ----------------------------------------------------------------------------- models and data

def train_source(X, y, n: int) -> torch.nn.Module:
    """The course CNN trained for one epoch on ``n`` MNIST images (so attacks are meaningful)."""
    model = make_model("cnn", "mnist", seed=0)
    t0 = time.perf_counter()
    hist = E_train.fit(model, X[:n], y[:n], epochs=1, seed=0, progress=False)
    log(f"  source model: 1 epoch on {n} images in {time.perf_counter() - t0:.1f}s, "
        f"train acc {hist[-1]['train_acc']:.3f}")
    return model


def targets_for(y: torch.Tensor) -> torch.Tensor:
    """A uniformly random wrong class per image (errlib's ``other`` target rule, seed 0)."""
    return make_targets(y, "other", 10, seed=0)


# ----------------------------------------------------------------------------- attack

def bench_attack(model, Xt, yt, sz, ref_mods=None) -> dict:
    import torchattacks

    n, steps, eps = sz["attack_n"], sz["attack_steps"], 4.0
    alpha = E_attacks.default_step_size(eps, steps)
    x = to_float(Xt[:n])
    target = targets_for(yt[:n])
    clean_acc = E_train.evaluate(model, Xt[:n], yt[:n])
    atk = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    atk.set_mode_targeted_by_label(quiet=True)
    out = {}

    def run_errlib(mod=E_attacks, key="errlib", net=model):
        res = mod.pgd(net, x, target, eps=eps, steps=steps, random_start=False,
                      batch_size=n, progress=False)
        out[key] = res.success_rate, res.delta_norm.max().item()

    def run_ta():
        adv = atk(x, target)
        pred = E_train.predict(model, adv)
        out["torchattacks"] = ((pred == target).float().mean().item(),
                               (adv - x).flatten(1).norm(dim=1).max().item())

    contenders = {"errlib": run_errlib, "torchattacks": run_ta}
    if ref_mods is not None:  # the baseline's model code, today's weights
        ref_model = ref_mods["models"].make_model("cnn", "mnist")
        ref_model.load_state_dict(model.state_dict())
        contenders["errlib_baseline"] = lambda: run_errlib(ref_mods["attacks"], "errlib_baseline", ref_model)
    # Warm-up (oneDNN primitive creation, allocator), not timed.
    E_attacks.pgd(model, x[:32], target[:32], eps=eps, steps=2, progress=False)
    atk_w = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=2, random_start=False)
    atk_w.set_mode_targeted_by_label(quiet=True)
    atk_w(x[:32], target[:32])
    log(f"  attack: {n} images x {steps} steps, eps {eps}, step {alpha:g}")
    times = interleave(contenders, sz["attack_rounds"])
    work = n * steps  # image-steps (errlib also evaluates the last iterate: one extra forward)
    res = {"n_images": n, "steps": steps, "eps": eps, "step_size": alpha, "clean_acc": clean_acc,
           "rounds": sz["attack_rounds"], "seconds": times}
    for k in contenders:
        res[k] = {"image_steps_per_s": work / median(times[k]), "success_rate": out[k][0],
                  "max_l2": out[k][1]}
    res["ratio_errlib_vs_torchattacks"] = paired_ratio(times, "errlib", "torchattacks")
    if ref_mods is not None:
        res["ratio_errlib_vs_baseline"] = paired_ratio(times, "errlib", "errlib_baseline")
    return res


# ----------------------------------------------------------------------------- training

def bare_loop(model, X, y, batch_size=128, seed=0):
    """The textbook loop on in-memory uint8 tensors: shuffled index slices, float on the fly."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(X))
    for s in range(0, len(X), batch_size):
        idx = perm[s:s + batch_size]
        xb = X[idx].float().div_(255)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def dataloader_loop(model, loader, seed=0):
    """The PyTorch MNIST example's loop: DataLoader over torchvision.datasets.MNIST + ToTensor."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def bench_training(X, y, root, sz, ref_mods=None) -> dict:
    import torchvision
    from torchvision import transforms

    n = sz["train_n"]
    Xn, yn = X[:n], y[:n]
    def loader(transform, num_workers):
        ds = torchvision.datasets.MNIST(root=str(root), train=True, download=False, transform=transform)
        return torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=128,
                                           shuffle=True, num_workers=num_workers)

    loaders = {nw: loader(transforms.ToTensor(), nw) for nw in (0, 1)}
    # The example's own transform normalises each image as it is loaded (with MNIST's
    # 0.1307 / 0.3081, errlib's constants too); its network then starts at the first
    # convolution (errlib's models normalise in their first layer).
    info = dataset_info("mnist")
    example = loader(transforms.Compose([transforms.ToTensor(), transforms.Normalize(info.mean, info.std)]), 0)

    def fresh():
        return make_model("cnn", "mnist", seed=0)

    contenders = {
        "errlib": lambda: E_train.fit(fresh(), Xn, yn, epochs=1, seed=0, progress=False),
        "bare": lambda: bare_loop(fresh(), Xn, yn),
        "dataloader_w0": lambda: dataloader_loop(fresh(), loaders[0]),
        "dataloader_w1": lambda: dataloader_loop(fresh(), loaders[1]),
        "mnist_example": lambda: dataloader_loop(fresh()[1], example),
    }
    if ref_mods is not None:
        contenders["errlib_baseline"] = lambda: ref_mods["train"].fit(
            ref_mods["models"].make_model("cnn", "mnist", seed=0), Xn, yn, epochs=1, seed=0, progress=False)
    E_train.fit(fresh(), Xn[:512], yn[:512], epochs=1, progress=False)  # warm-up
    log(f"  training: one epoch on {n} images, batch 128, Adam")
    times = interleave(contenders, sz["train_rounds"])
    res = {"n_images": n, "rounds": sz["train_rounds"], "seconds": times}
    for k in contenders:
        res[k] = {"images_per_s": n / median(times[k])}
    best_dl = min(("dataloader_w0", "dataloader_w1"), key=lambda k: median(times[k]))
    res["dataloader_best"] = best_dl
    res["dataloader"] = {"images_per_s": res[best_dl]["images_per_s"],
                         "num_workers": int(best_dl[-1])}
    res["ratio_errlib_vs_bare"] = paired_ratio(times, "errlib", "bare")
    res["ratio_errlib_vs_dataloader"] = paired_ratio(times, "errlib", best_dl)
    res["ratio_errlib_vs_mnist_example"] = paired_ratio(times, "errlib", "mnist_example")
    if ref_mods is not None:
        res["ratio_errlib_vs_baseline"] = paired_ratio(times, "errlib", "errlib_baseline")
        res["evaluate"] = bench_evaluate(X, y, ref_mods, sz)
    return res


def bench_evaluate(X, y, ref_mods, sz) -> dict:
    """errlib.train.evaluate on 10,000 images (as fit does each epoch with a test set), now vs baseline."""
    n = 10000 if sz is SIZES["full"] else 2000
    now = make_model("cnn", "mnist", seed=0)
    ref = ref_mods["models"].make_model("cnn", "mnist", seed=0)
    accs = {}

    def run(key, mod, net):
        accs[key] = mod.evaluate(net, X[-n:], y[-n:])

    run("errlib", E_train, now)
    run("errlib_baseline", ref_mods["train"], ref)
    log(f"  evaluate: {n} images")
    times = interleave({"errlib": lambda: run("errlib", E_train, now),
                        "errlib_baseline": lambda: run("errlib_baseline", ref_mods["train"], ref)},
                       sz["train_rounds"] + 2)
    return {"n_images": n, "seconds": times, "accuracy": accs,
            "errlib": {"images_per_s": n / median(times["errlib"])},
            "errlib_baseline": {"images_per_s": n / median(times["errlib_baseline"])},
            "ratio_errlib_vs_baseline": paired_ratio(times, "errlib", "errlib_baseline")}


# ----------------------------------------------------------------------------- threads

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before --threads changes it


def bench_threads(model, X, y, Xt, yt, sz) -> dict:
    """errlib's attack and training epoch at 1 thread vs torch's default thread count."""
    default = TORCH_DEFAULT_THREADS
    out = {"default_threads": default}
    if default == 1:
        out["note"] = "torch already uses 1 thread; nothing to compare"
        return out
    n, steps = sz["thr_attack_n"], sz["attack_steps"]
    x, target = to_float(Xt[:n]), targets_for(yt[:n])
    nt = sz["thr_train_n"]

    def attack(k):
        def f():
            with threads(k):
                E_attacks.pgd(model, x, target, eps=4.0, steps=steps, batch_size=n, progress=False)
        return f

    def train(k):
        def f():
            with threads(k):
                E_train.fit(make_model("cnn", "mnist", seed=0), X[:nt], y[:nt], epochs=1, progress=False)
        return f

    log(f"  threads: 1 vs {default}; attack {n} x {steps} steps, one epoch on {nt} images")
    ta = interleave({"attack_1": attack(1), f"attack_{default}": attack(default),
                     "train_1": train(1), f"train_{default}": train(default)}, sz["thr_rounds"])
    out["seconds"] = ta
    out["attack_speedup_1_thread"] = paired_ratio(ta, "attack_1", f"attack_{default}")
    out["train_speedup_1_thread"] = paired_ratio(ta, "train_1", f"train_{default}")
    return out


def bench_attack_batch(model, X, y, sz) -> dict:
    """errlib's attack throughput by batch size (on a CPU, smaller batches keep activations in cache)."""
    n, steps = sz["batch_n"], sz["batch_steps"]
    x, target = to_float(X[:n]), targets_for(y[:n])

    def run(b):
        return lambda: E_attacks.pgd(model, x, target, eps=4.0, steps=steps, batch_size=b, progress=False)

    log(f"  attack batch size: {n} images x {steps} steps")
    times = interleave({str(b): run(b) for b in (256, 512, 1024)}, sz["batch_rounds"])
    return {"n_images": n, "steps": steps, "seconds": times,
            "image_steps_per_s": {b: n * steps / median(t) for b, t in times.items()},
            "ratio_512_vs_1024": paired_ratio(times, "512", "1024"),
            "ratio_256_vs_1024": paired_ratio(times, "256", "1024")}


# ----------------------------------------------------------------------------- floor

def matmul_flops(n: int, reps: int, nthreads: Optional[int]) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    with threads(nthreads):
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

    B = 64
    model = make_model("cnn", "mnist", seed=0)
    x = torch.rand(B, 1, 28, 28)
    yb = torch.randint(0, 10, (B,))

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
    attack = count(lambda: F.cross_entropy(model(xa), yb).sum().backward())
    return {"forward": fwd, "train_step": train, "attack_step": attack}


def bench_floor(sz, attack, training) -> dict:
    default = TORCH_DEFAULT_THREADS
    peaks = {f"{default}_threads": matmul_flops(sz["matmul_n"], sz["matmul_reps"], default)}
    if default != 1:
        peaks["1_thread"] = matmul_flops(sz["matmul_n"], sz["matmul_reps"], 1)
    peak = max(peaks.values())
    fl = model_flops()
    p = DEFAULT_PROFILE
    # Work per default-profile stage, and errlib's throughput measured above.
    fit_ips = training["errlib"]["images_per_s"]
    atk_ips = attack["errlib"]["image_steps_per_s"]
    stages = {
        "source_epoch": dict(what=f"1 source epoch on {p['n_train']} images",
                             flops=p["n_train"] * fl["train_step"],
                             measured_s=p["n_train"] / fit_ips),
        "attack": dict(what=f"{p['n_attack']} images x {p['steps']} steps x {p['n_sets']} error sets",
                       flops=p["n_sets"] * p["n_attack"] * (p["steps"] * fl["attack_step"] + fl["forward"]),
                       measured_s=p["n_sets"] * p["n_attack"] * p["steps"] / atk_ips),
        "students": dict(what=f"{p['student_epochs']} epochs on {p['n_attack']} images x {p['n_sets']} students",
                         flops=p["n_sets"] * p["student_epochs"] * p["n_attack"] * fl["train_step"],
                         measured_s=p["n_sets"] * p["student_epochs"] * p["n_attack"] / fit_ips),
    }
    for s in stages.values():
        s["limit_s"] = s["flops"] / peak
        s["measured_over_limit"] = s["measured_s"] / s["limit_s"]
    return {"matmul_n": sz["matmul_n"], "matmul_flops_per_s": peaks, "peak_flops_per_s": peak,
            "flops_per_image": fl, "stages": stages,
            "note": "measured_s extrapolates this run's errlib throughput (training epoch, attack) "
                    "to the default profile's work; limit_s = counted conv/linear FLOPs / matmul FLOP/s"}


# ----------------------------------------------------------------------------- end to end

def read_course(path: Optional[str]) -> dict:
    if not path:
        return {"measured": False, "note": "not measured (pass --course-results)"}
    doc = json.loads(Path(path).read_text())
    nbs = {k: v.get("seconds") for k, v in sorted(doc.get("notebooks", {}).items())}
    return {"measured": True, "source": str(path), "profile": doc.get("profile"), "seconds": nbs,
            "total_s": sum(v for v in nbs.values() if isinstance(v, (int, float)))}


# ----------------------------------------------------------------------------- report

TARGETS = {"attack_vs_torchattacks": 1.2, "train_vs_bare": 0.95, "train_vs_dataloader": 2.0}


def table(res: dict) -> str:
    a, t, f, e, th = res["attack"], res["training"], res["floor"], res["end_to_end"], res["threads"]
    m = res["meta"]
    L = [f"errlib benchmarks ({'quick' if m['quick'] else 'full'}), torch {m['torch']}, "
         f"{m['threads']} threads" + (f" (OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']})" if m["OMP_WAIT_POLICY"] else "")
         + f", {m['cpu_count']} CPUs, load avg {m['loadavg_start']} -> {m['loadavg_end']}",
         "", "| measure | errlib | baseline | ratio (errlib / baseline) | target |", "|---|---|---|---|---|"]

    def ok(r, tgt):
        return f">= {tgt:g}x " + ("met" if r >= tgt else "NOT met")

    L.append(f"| attack, image-steps/s ({a['n_images']} x {a['steps']} steps) | "
             f"{a['errlib']['image_steps_per_s']:.0f} | torchattacks PGDL2 "
             f"{a['torchattacks']['image_steps_per_s']:.0f} | {a['ratio_errlib_vs_torchattacks']:.2f}x | "
             f"{ok(a['ratio_errlib_vs_torchattacks'], TARGETS['attack_vs_torchattacks'])} |")
    L.append(f"| attack success rate (clean acc {a['clean_acc']:.3f}) | {a['errlib']['success_rate']:.3f} | "
             f"{a['torchattacks']['success_rate']:.3f} | {a['errlib']['success_rate'] - a['torchattacks']['success_rate']:+.3f} | comparable |")
    L.append(f"| training epoch, images/s ({t['n_images']} images) | {t['errlib']['images_per_s']:.0f} | "
             f"bare loop {t['bare']['images_per_s']:.0f} | {t['ratio_errlib_vs_bare']:.2f}x | "
             f"{ok(t['ratio_errlib_vs_bare'], TARGETS['train_vs_bare'])} |")
    L.append(f"| training epoch, images/s | {t['errlib']['images_per_s']:.0f} | DataLoader+ToTensor "
             f"(num_workers={t['dataloader']['num_workers']}) {t['dataloader']['images_per_s']:.0f} | "
             f"{t['ratio_errlib_vs_dataloader']:.2f}x | {ok(t['ratio_errlib_vs_dataloader'], TARGETS['train_vs_dataloader'])} |")
    L.append(f"| training epoch, images/s | {t['errlib']['images_per_s']:.0f} | PyTorch MNIST example's pipeline "
             f"(ToTensor+Normalize) {t['mnist_example']['images_per_s']:.0f} | "
             f"{t['ratio_errlib_vs_mnist_example']:.2f}x | {ok(t['ratio_errlib_vs_mnist_example'], TARGETS['train_vs_dataloader'])} |")
    if "errlib_baseline" in a:
        L.append(f"| attack vs errlib@{m['baseline_rev']} | {a['errlib']['image_steps_per_s']:.0f} | "
                 f"{a['errlib_baseline']['image_steps_per_s']:.0f} (success {a['errlib_baseline']['success_rate']:.3f}) | "
                 f"{a['ratio_errlib_vs_baseline']:.2f}x | before/after |")
    if "errlib_baseline" in t:
        L.append(f"| training vs errlib@{m['baseline_rev']} | {t['errlib']['images_per_s']:.0f} | "
                 f"{t['errlib_baseline']['images_per_s']:.0f} | {t['ratio_errlib_vs_baseline']:.2f}x | before/after |")
        ev = t["evaluate"]
        L.append(f"| evaluate {ev['n_images']} images vs errlib@{m['baseline_rev']} | {ev['errlib']['images_per_s']:.0f} | "
                 f"{ev['errlib_baseline']['images_per_s']:.0f} | {ev['ratio_errlib_vs_baseline']:.2f}x | before/after |")
    ab = res["attack_batch"]
    L.append(f"| attack batch 512 vs 1024 (256 vs 1024), errlib | {ab['image_steps_per_s']['512']:.0f} | "
             f"{ab['image_steps_per_s']['1024']:.0f} | {ab['ratio_512_vs_1024']:.2f}x ({ab['ratio_256_vs_1024']:.2f}x) | |")
    if "attack_speedup_1_thread" in th:
        L.append(f"| 1 thread vs {th['default_threads']} (errlib attack / training) | | | "
                 f"{th['attack_speedup_1_thread']:.2f}x / {th['train_speedup_1_thread']:.2f}x | (load-dependent) |")
    L += ["", f"Floor: matmul {f['matmul_n']}^3 float32 -> "
          + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in f["matmul_flops_per_s"].items())
          + f" GFLOP/s (peak used: {f['peak_flops_per_s'] / 1e9:.1f}); course CNN per image: forward "
          f"{f['flops_per_image']['forward'] / 1e6:.2f}, train step {f['flops_per_image']['train_step'] / 1e6:.2f}, "
          f"attack step {f['flops_per_image']['attack_step'] / 1e6:.2f} MFLOP", "",
          "| default-profile stage | work | limit (s) | measured (s, extrapolated) | measured / limit |",
          "|---|---|---|---|---|"]
    for k, s in f["stages"].items():
        L.append(f"| {k} | {s['what']} | {s['limit_s']:.1f} | {s['measured_s']:.0f} | {s['measured_over_limit']:.0f}x |")
    L += ["", "| notebook (default profile) | seconds |", "|---|---|"]
    if e["measured"]:
        for k, v in e["seconds"].items():
            L.append(f"| {k} | {v} |")
        L.append(f"| total | {e['total_s']:.1f} |")
        L.append(f"(from {e['source']}, profile {e['profile']})")
    else:
        L.append(f"| all | {e['note']} |")
    return "\n".join(L)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a ~1 minute smoke test")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results.json"), help="JSON output path")
    ap.add_argument("--course-results", default=None,
                    help="results.json of `python -m errlib.course run --profile default` (seconds per notebook)")
    ap.add_argument("--baseline", "--baseline-rev", dest="baseline", default=None, metavar="REV|DIR",
                    help="also run errlib's models/train/attacks.py from this git revision or folder (before/after)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    errlib_threads = os.environ.pop("ERRLIB_THREADS", None)  # same threads for every contender
    os.environ.setdefault("ERRLIB_PROGRESS", "0")
    os.environ.setdefault("ERRLIB_DOWNLOAD", "0")
    sz = SIZES["quick" if args.quick else "full"]
    # errlib's allocator setting is process-wide: apply it before any contender runs, so all of
    # them allocate alike (its own before/after figure: benchmarks/allocator.py)
    from errlib.parallel import reuse_freed_memory
    reuse = reuse_freed_memory()
    from errlib.data import data_root
    root = data_root()
    loadavg = lambda: [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None  # noqa: E731
    meta = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
            "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "ignored_ERRLIB_THREADS": errlib_threads,
            "reuse_freed_memory": reuse,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"), "sizes": sz, "baseline_rev": args.baseline,
            "loadavg_start": loadavg()}
    try:
        import torchattacks
        meta["torchattacks"] = torchattacks.__version__
    except ImportError:
        sys.exit("torchattacks is not installed: pip install --no-deps -r requirements-bench.txt "
                 "(see benchmarks/README.md)")
    ref_mods = load_rev_modules(args.baseline) if args.baseline else None
    t_start = time.perf_counter()
    X, y = load_dataset("mnist", train=True)
    Xt, yt = load_dataset("mnist", train=False)
    log("setup")
    model = train_source(X, y, sz["source_n"])
    res = {"meta": meta}
    log("attack throughput")
    res["attack"] = bench_attack(model, Xt, yt, sz, ref_mods)
    log("training throughput")
    res["training"] = bench_training(X, y, root, sz, ref_mods)
    log("thread count")
    res["threads"] = bench_threads(model, X, y, Xt, yt, sz)
    log("attack batch size")
    res["attack_batch"] = bench_attack_batch(model, X, y, sz)
    log("floor")
    res["floor"] = bench_floor(sz, res["attack"], res["training"])
    res["end_to_end"] = read_course(args.course_results)
    a, t = res["attack"], res["training"]
    res["targets"] = {
        "attack_vs_torchattacks": {"target": TARGETS["attack_vs_torchattacks"],
                                   "value": a["ratio_errlib_vs_torchattacks"]},
        "train_vs_bare": {"target": TARGETS["train_vs_bare"], "value": t["ratio_errlib_vs_bare"]},
        "train_vs_dataloader": {"target": TARGETS["train_vs_dataloader"],
                                "value": t["ratio_errlib_vs_dataloader"]},
        "train_vs_mnist_example": {"target": TARGETS["train_vs_dataloader"],
                                   "value": t["ratio_errlib_vs_mnist_example"]},
    }
    for v in res["targets"].values():
        v["met"] = v["value"] >= v["target"]
    meta["loadavg_end"] = loadavg()
    meta["seconds"] = round(time.perf_counter() - t_start, 1)
    res["table"] = table(res)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(res["table"])
    print(f"\n{meta['seconds']:.0f}s; results in {out}")
    return res


if __name__ == "__main__":
    main()
