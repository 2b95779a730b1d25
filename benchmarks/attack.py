#!/usr/bin/env python
"""errlib's targeted L2 PGD against torchattacks PGDL2 on the same model, at equal success.

    ERRLIB_DATA=/path/to/data python benchmarks/attack.py [--quick] [--out FILE]

Both attack the course CNN (trained 1 epoch) with the same batch, eps, steps, step
size (errlib's default, 2.5 * eps / steps) and no random start; torchattacks in
targeted mode with the same target labels. Reports image-steps/s, success rates
(torchattacks': prediction on its last iterate == target, measured inside its
timed call), max L2 distance, and the paired ratio. The comparison counts only
at equal success (gap at most one image or 1%). Needs torchattacks
(requirements-bench.txt).
"""
from __future__ import annotations

from common import (attack_inputs, fmt, interleave, log, main, median, mnist, paired_ratio, pick, source_model,
                    target, verdict)

EPS = 4.0
SIZES = {"full": dict(source_n=10000, n=512, steps=20, rounds=5),
         "quick": dict(source_n=1024, n=32, steps=5, rounds=2)}


def contenders(model, x, labels, steps: int, out: dict) -> dict:
    """errlib's ``pgd`` and torchattacks' ``PGDL2``, each recording (success rate, max L2) in ``out``."""
    from errlib.core.attacks import default_step_size, pgd
    from errlib.core.train import predict

    alpha = default_step_size(EPS, steps)

    def run_errlib():
        res = pgd(model, x, labels, eps=EPS, steps=steps, random_start=False, batch_size=len(x),
                  progress=False)
        out["errlib"] = res.success_rate, res.delta_norm.max().item()

    def torchattacks_pgd(k):
        import torchattacks

        atk = torchattacks.PGDL2(model, eps=EPS, alpha=alpha, steps=k, random_start=False)
        atk.set_mode_targeted_by_label(quiet=True)
        return atk

    atk = torchattacks_pgd(steps)

    def run_torchattacks():
        adv = atk(x, labels)
        pred = predict(model, adv)
        out["torchattacks"] = ((pred == labels).float().mean().item(),
                               (adv - x).flatten(1).norm(dim=1).max().item())

    def warm_up():  # oneDNN primitive creation, allocator; not timed
        pgd(model, x[:32], labels[:32], eps=EPS, steps=2, progress=False)
        torchattacks_pgd(2)(x[:32], labels[:32])

    return {"errlib": run_errlib, "torchattacks": run_torchattacks}, warm_up, alpha


def measure(args) -> dict:
    from errlib.core.train import evaluate

    sz = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or sz["rounds"]
    (X, y), (Xt, yt) = mnist()
    model = source_model(X, y, sz["source_n"])
    n, steps = sz["n"], sz["steps"]
    x, labels = attack_inputs(Xt, yt, n)
    out: dict = {}
    runs, warm_up, alpha = contenders(model, x, labels, steps, out)
    runs = pick(runs, args.only)
    if "torchattacks" not in runs:
        warm_up = lambda: runs["errlib"]()  # noqa: E731 (a baseline tree: errlib alone)
    warm_up()
    log(f"  attack: {n} images x {steps} steps, eps {EPS}, step {alpha:g}")
    times = interleave(runs, rounds)
    res = {"n_images": n, "steps": steps, "eps": EPS, "step_size": alpha, "rounds": rounds,
           "clean_acc": evaluate(model, Xt[:n], yt[:n]), "seconds": times}
    for k in runs:
        res[k] = {"image_steps_per_s": n * steps / median(times[k]), "success_rate": out[k][0],
                  "max_l2": out[k][1]}
    res["ratio_errlib_vs_torchattacks"] = paired_ratio(times, "errlib", "torchattacks")
    if "torchattacks" in runs:
        gap = out["errlib"][0] - out["torchattacks"][0]
        res["success_gap"] = gap
        res["equal_success"] = abs(gap) <= max(0.01, 1 / n) + 1e-9
    return res


TARGET = 0.95  # x torchattacks PGDL2, at equal success (issue 15)


def targets(res: dict) -> dict:
    return {"attack_vs_torchattacks": target(res.get("ratio_errlib_vs_torchattacks"), TARGET,
                                             ok=res.get("equal_success", False))}


def rows(res: dict) -> list:
    e, t = res["errlib"], res.get("torchattacks")
    if t is None:
        return [f"| attack, image-steps/s ({res['n_images']} x {res['steps']} steps) | "
                f"{e['image_steps_per_s']:.0f} | | | |"]
    tg = targets(res)["attack_vs_torchattacks"]
    return [f"| attack, image-steps/s ({res['n_images']} x {res['steps']} steps) | {e['image_steps_per_s']:.0f} | "
            f"torchattacks PGDL2 {t['image_steps_per_s']:.0f} | {fmt(res['ratio_errlib_vs_torchattacks'])} | "
            f"{verdict(tg)} |",
            f"| attack success rate (clean acc {res['clean_acc']:.3f}) | {e['success_rate']:.3f} | "
            f"{t['success_rate']:.3f} | {res['success_gap']:+.3f} | "
            f"{'equal' if res['equal_success'] else 'NOT equal'} |"]


if __name__ == "__main__":
    main(__doc__, measure, rows, targets)
