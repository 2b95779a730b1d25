"""The full (CIFAR-10, GPU) profile's training and attack timed on a CUDA device in each precision.

Runs errlib's own ``fit``, ``pgd`` and ``predict`` with the ``full`` profile's
settings (CIFAR-style ResNet-18; batch 256, SGD lr 0.1 one-cycle, augmentation;
L2 eps 0.5, step 0.1, 100 steps, attack batch 1000) on synthetic CIFAR-shaped
data (uint8 3x32x32, 10 classes): throughput does not depend on the pixels, and
no dataset is needed. Each mode builds the model with errlib's precision
(:mod:`errlib.core.precision`: ``fp32``, or ``bf16`` autocast inside the model's
forward) and memory layout (``+cl``: channels-last; errlib's ResNet-18 is
channels-first). Default modes: ``fp32``, ``bf16``, ``bf16+cl``; the modes are
interleaved ``--rounds`` times, so the ratios are measured side by side. Prints a
table, the speed-ups over fp32 and the full profile's estimated time per mode
(source 30 epochs on 50k images; 2 error sets of 50k images x 100 steps;
2 students x 30 epochs); ``--out`` writes JSON.

    python benchmarks/gpu.py [--n-train 20000] [--n-attack 1000] [--rounds 2]
                             [--modes fp32 bf16 bf16+cl fp32+cl] [--out FILE]

Without CUDA it exits with a message (status 2) before touching anything.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = ("fp32", "bf16", "bf16+cl", "fp32+cl")
DEFAULT_MODES = ("fp32", "bf16", "bf16+cl")
NO_CUDA = "benchmarks/gpu.py needs a CUDA device (torch.cuda.is_available() is False); nothing was measured"


def parse_mode(mode: str) -> tuple:
    """``"bf16+cl"`` -> ``("bf16", True)``: the precision and whether the model is channels-last."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    prec, _, cl = mode.partition("+")
    return prec, cl == "cl"


def arguments(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=20000, help="images in each timed training epoch")
    ap.add_argument("--n-attack", type=int, default=1000, help="images attacked (100 steps each)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the modes (medians reported)")
    ap.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), choices=list(MODES))
    ap.add_argument("--out", help="write the results as JSON here")
    return ap.parse_args(argv)


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def estimate(cfg, fit_ips: float, pgd_ips: float) -> dict:
    """The full profile's three big stages, seconds, at these throughputs."""
    n = 50000
    return {"source (30 epochs x 50k)": cfg.epochs * n / fit_ips,
            "attack (2 sets x 50k x 100 steps)": 2 * n * cfg.steps / pgd_ips,
            "students (2 x 30 epochs x 50k)": 2 * cfg.student_epochs * n / fit_ips}


def one_mode(mode: str, cfg, X, y, args) -> dict:
    """Train one epoch, attack, predict in ``mode``; seconds and what the results say."""
    from errlib.core.attacks import pgd
    from errlib.core.models import make_model
    from errlib.core.train import fit, predict

    prec, cl = parse_mode(mode)
    model = make_model(cfg.model, "cifar10", seed=0, precision=prec).cuda()
    if cl:
        model.to(memory_format=torch.channels_last)
    train = lambda n: fit(model, X[:n], y[:n], epochs=1, batch_size=cfg.batch_size, lr=cfg.lr,  # noqa: E731
                          optimizer=cfg.optimizer, schedule=cfg.schedule, augment=cfg.augment, seed=0,
                          progress=False)
    attack = lambda n: pgd(model, X[:n], (y[:n] + 1) % 10, eps=cfg.eps, steps=cfg.steps,  # noqa: E731
                           step_size=cfg.step_size, batch_size=cfg.attack_batch_size, progress=False)
    timed(lambda: train(min(2048, args.n_train)))  # warm-up: kernels chosen, memory allocated
    timed(lambda: attack(min(args.n_attack, cfg.attack_batch_size)))
    t_fit, hist = timed(lambda: train(args.n_train))
    t_pgd, adv = timed(lambda: attack(args.n_attack))
    t_pred, _ = timed(lambda: predict(model, X[:10000]))
    return {"fit_s": t_fit, "pgd_s": t_pgd, "predict_s": t_pred, "train_loss": hist[-1]["train_loss"],
            "attack_success": adv.success_rate, "max_l2": adv.delta_norm.max().item(),
            "in_box": bool(adv.x_adv.min() >= 0 and adv.x_adv.max() <= 1)}


def summarise(runs: dict, cfg, args) -> dict:
    """Medians over rounds per mode, speed-ups over fp32 (median of per-round ratios), estimates."""
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    out = {}
    for mode, rs in runs.items():
        r = {"fit_images_per_s": args.n_train / med(rs, "fit_s"),
             "pgd_image_steps_per_s": args.n_attack * cfg.steps / med(rs, "pgd_s"),
             "predict_images_per_s": 10000 / med(rs, "predict_s"), "rounds": rs}
        r["full_profile_estimate_s"] = estimate(cfg, r["fit_images_per_s"], r["pgd_image_steps_per_s"])
        r["full_profile_estimate_min"] = sum(r["full_profile_estimate_s"].values()) / 60
        if "fp32" in runs and mode != "fp32":
            for k, key in (("fit", "fit_s"), ("pgd", "pgd_s")):
                r[f"{k}_speedup_vs_fp32"] = statistics.median(
                    f[key] / m[key] for f, m in zip(runs["fp32"], rs))
        out[mode] = r
    return out


def main(argv=None) -> dict:
    args = arguments(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        raise SystemExit(2)
    from errlib.core import precision as P
    from errlib.stages.config import resolve

    cfg = resolve("full")
    gen = torch.Generator().manual_seed(0)
    X = torch.randint(0, 256, (args.n_train, 3, 32, 32), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (args.n_train,), generator=gen)
    runs = {m: [] for m in args.modes}
    for r in range(args.rounds):
        for mode in args.modes[r % len(args.modes):] + args.modes[:r % len(args.modes)]:
            runs[mode].append(one_mode(mode, cfg, X, y, args))
            print(f"round {r + 1}: {mode}: fit {runs[mode][-1]['fit_s']:.1f} s, pgd {runs[mode][-1]['pgd_s']:.1f} s",
                  flush=True)
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "n_train": args.n_train,
           "n_attack": args.n_attack, "auto_resolves_to": P.choose("auto", "cuda"),
           "modes": summarise(runs, cfg, args)}
    print("| mode | fit, images/s | pgd, image-steps/s | predict, images/s | fit / pgd speed-up vs fp32 | "
          "full profile, min |\n|---|---|---|---|---|---|")
    for mode, r in res["modes"].items():
        sp = (f"{r['fit_speedup_vs_fp32']:.2f}x / {r['pgd_speedup_vs_fp32']:.2f}x"
              if "fit_speedup_vs_fp32" in r else "1")
        print(f"| {mode} | {r['fit_images_per_s']:,.0f} | {r['pgd_image_steps_per_s']:,.0f} | "
              f"{r['predict_images_per_s']:,.0f} | {sp} | {r['full_profile_estimate_min']:.0f} |")
    print(f"({res['device']}, torch {res['torch']}; auto resolves to {res['auto_resolves_to']} here)")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
