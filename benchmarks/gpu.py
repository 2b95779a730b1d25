"""The full (CIFAR-10, GPU) profile's stages timed on a CUDA device, and the profile's time estimated.

Runs errlib's own ``fit``, ``pgd`` and ``predict`` with the ``full`` profile's
settings (CIFAR-style ResNet-18; batch 256, SGD lr 0.1 one-cycle, augmentation;
L2 eps 0.5, step 0.1, 100 steps, attack batch 1000) on synthetic CIFAR-shaped
data (uint8 3x32x32, 10 classes): throughput does not depend on the pixels, and
no dataset is needed. Each stage runs in fp32 (errlib's only mode today, with
torch's default TF32 for convolutions) and under ``torch.autocast`` bf16, which
errlib does not use yet, to size that option. Prints a table and the full
profile's estimated time (source 30 epochs on 50k images; 2 error sets of 50k
images x 100 steps; 2 students x 30 epochs); ``--out`` writes JSON.

    python benchmarks/gpu.py [--n-train 50000] [--n-attack 2000] [--out FILE]
                             [--channels-last] [--cudnn-benchmark]

``--channels-last`` converts the model to channels-last memory format (errlib's
ResNet-18 is channels-first); ``--cudnn-benchmark`` sets
``torch.backends.cudnn.benchmark`` (cuDNN times its algorithms per shape): two
candidate optimisations, measured here before errlib adopts either.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from errlib.core.attacks import pgd  # noqa: E402
from errlib.stages.config import resolve  # noqa: E402
from errlib.core.models import make_model  # noqa: E402
from errlib.core.train import fit, predict  # noqa: E402


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=50000, help="images in the timed training epoch")
    ap.add_argument("--n-attack", type=int, default=2000, help="images attacked (100 steps each)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--channels-last", action="store_true", help="the model in channels-last memory format")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA device")
    cfg = resolve("full")
    dev = torch.device("cuda")
    gen = torch.Generator().manual_seed(0)
    X = torch.randint(0, 256, (args.n_train, 3, 32, 32), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (args.n_train,), generator=gen)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "n_train": args.n_train, "n_attack": args.n_attack, "channels_last": args.channels_last,
           "cudnn_benchmark": args.cudnn_benchmark, "modes": {}}
    for mode in ("fp32", "bf16"):
        amp = (torch.autocast("cuda", dtype=torch.bfloat16) if mode == "bf16"
               else contextlib.nullcontext())
        model = make_model(cfg.model, "cifar10", seed=0).to(dev)
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
        train = lambda n: fit(model, X[:n], y[:n], epochs=1, batch_size=cfg.batch_size, lr=cfg.lr,  # noqa: E731
                              optimizer=cfg.optimizer, schedule=cfg.schedule, augment=cfg.augment,
                              seed=0, progress=False)
        attack = lambda n: pgd(model, X[:n], (y[:n] + 1) % 10, eps=cfg.eps, steps=cfg.steps,  # noqa: E731
                               step_size=cfg.step_size, batch_size=cfg.attack_batch_size, progress=False)
        with amp:
            timed(lambda: train(2048))  # warm-up: kernels chosen, memory allocated
            timed(lambda: attack(min(args.n_attack, cfg.attack_batch_size)))
            t_fit, hist = timed(lambda: train(args.n_train))
            t_pgd, adv = timed(lambda: attack(args.n_attack))
            t_pred, _ = timed(lambda: predict(model, X[:10000]))
        r = {"fit_images_per_s": args.n_train / t_fit, "pgd_image_steps_per_s": args.n_attack * cfg.steps / t_pgd,
             "predict_images_per_s": 10000 / t_pred, "train_loss": hist[-1]["train_loss"],
             "attack_success": adv.success_rate, "max_l2": adv.delta_norm.max().item()}
        n = 50000
        r["full_profile_estimate_s"] = {
            "source (30 epochs x 50k)": cfg.epochs * n / r["fit_images_per_s"],
            "attack (2 sets x 50k x 100 steps)": 2 * n * cfg.steps / r["pgd_image_steps_per_s"],
            "students (2 x 30 epochs x 50k)": 2 * cfg.student_epochs * n / r["fit_images_per_s"]}
        r["full_profile_estimate_min"] = sum(r["full_profile_estimate_s"].values()) / 60
        res["modes"][mode] = r
        print(f"{mode}: fit {r['fit_images_per_s']:,.0f} images/s, pgd {r['pgd_image_steps_per_s']:,.0f} "
              f"image-steps/s (success {r['attack_success']:.3f}, max L2 {r['max_l2']:.3f}), predict "
              f"{r['predict_images_per_s']:,.0f} images/s; full profile ~{r['full_profile_estimate_min']:.0f} min "
              + ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["full_profile_estimate_s"].items()), flush=True)
    m = res["modes"]
    print(f"bf16 autocast vs fp32: fit {m['bf16']['fit_images_per_s'] / m['fp32']['fit_images_per_s']:.2f}x, "
          f"pgd {m['bf16']['pgd_image_steps_per_s'] / m['fp32']['pgd_image_steps_per_s']:.2f}x "
          f"({res['device']}, torch {res['torch']}, channels_last {args.channels_last}, "
          f"cudnn.benchmark {args.cudnn_benchmark})")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
