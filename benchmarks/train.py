#!/usr/bin/env python
"""One training epoch of errlib's ``fit`` against a bare loop and the usual DataLoader pipelines.

    ERRLIB_DATA=/path/to/data python benchmarks/train.py [--quick] [--out FILE]

All train the course CNN from the same initial weights for one epoch, batch 128,
Adam 1e-3: ``errlib.core.train.fit``; ``bare``, the textbook loop on the same uint8
tensors (shuffled index slices, float on the fly); ``dataloader_w0``/``_w1``, a
DataLoader over ``torchvision.datasets.MNIST`` with ``ToTensor`` (num_workers 0
and 1, the faster reported as ``dataloader``); ``mnist_example``, the PyTorch
MNIST example's pipeline (``ToTensor`` + ``Normalize`` per image, no worker on a
CPU), whose network is the course CNN without errlib's ``Normalize`` layer.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from common import fmt, interleave, log, main, median, mnist, paired_ratio, pick, target, verdict

SIZES = {"full": dict(n=5120, rounds=5), "quick": dict(n=256, rounds=2)}


def bare_loop(model, X, y, batch_size=128, seed=0):
    """The textbook loop on in-memory uint8 tensors: shuffled index slices, float on the fly."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(X), generator=gen)
    for s in range(0, len(X), batch_size):
        idx = perm[s:s + batch_size]
        step(model, opt, X[idx].float().div_(255), y[idx])


def dataloader_loop(model, loader):
    """The PyTorch MNIST example's loop: whatever the DataLoader yields, straight into the model."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for xb, yb in loader:
        step(model, opt, xb, yb)


def step(model, opt, xb, yb):
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def loaders(n: int) -> dict:
    """MNIST's first ``n`` training images through torchvision: ToTensor (0 and 1 workers), the example's."""
    import torchvision
    from torchvision import transforms

    from errlib.core.data import data_root, dataset_info

    def loader(transform, num_workers):
        ds = torchvision.datasets.MNIST(root=str(data_root()), train=True, download=False, transform=transform)
        return torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=128, shuffle=True,
                                           num_workers=num_workers, generator=torch.Generator().manual_seed(0))

    info = dataset_info("mnist")  # the example normalises with MNIST's mean and std, as errlib's layer does
    example = transforms.Compose([transforms.ToTensor(), transforms.Normalize(info.mean, info.std)])
    return {0: loader(transforms.ToTensor(), 0), 1: loader(transforms.ToTensor(), 1),
            "example": loader(example, 0)}


def contenders(X, y, only) -> dict:
    from errlib.core.models import make_model
    from errlib.core.train import fit

    def fresh():
        return make_model("cnn", "mnist", seed=0)

    runs = {"errlib": lambda: fit(fresh(), X, y, epochs=1, seed=0, progress=False),
            "bare": lambda: bare_loop(fresh(), X, y)}
    if only and set(only) <= set(runs):  # no torchvision datasets needed
        return pick(runs, only)
    dl = loaders(len(X))
    runs.update({"dataloader_w0": lambda: dataloader_loop(fresh(), dl[0]),
                 "dataloader_w1": lambda: dataloader_loop(fresh(), dl[1]),
                 "mnist_example": lambda: dataloader_loop(fresh()[1], dl["example"])})
    return pick(runs, only)


def measure(args) -> dict:
    from errlib.core.train import fit
    from errlib.core.models import make_model

    sz = SIZES["quick" if args.quick else "full"]
    rounds = args.rounds or sz["rounds"]
    (X, y), _ = mnist()
    n = sz["n"]
    runs = contenders(X[:n], y[:n], args.only)
    fit(make_model("cnn", "mnist", seed=0), X[:256], y[:256], epochs=1, progress=False)  # warm-up
    log(f"  training: one epoch on {n} images, batch 128, Adam")
    times = interleave(runs, rounds)
    res = {"n_images": n, "rounds": rounds, "seconds": times}
    res.update({k: {"images_per_s": n / median(times[k])} for k in runs})
    if {"dataloader_w0", "dataloader_w1"} <= set(runs):
        best = min(("dataloader_w0", "dataloader_w1"), key=lambda k: median(times[k]))
        res["dataloader_best"] = best
        res["dataloader"] = {"images_per_s": res[best]["images_per_s"], "num_workers": int(best[-1])}
        res["ratio_errlib_vs_dataloader"] = paired_ratio(times, "errlib", best)
    res["ratio_errlib_vs_bare"] = paired_ratio(times, "errlib", "bare")
    res["ratio_errlib_vs_mnist_example"] = paired_ratio(times, "errlib", "mnist_example")
    return res


TARGETS = {"train_vs_bare": 0.95, "train_vs_mnist_example": 2.0}  # issue 15


def targets(res: dict) -> dict:
    return {"train_vs_bare": target(res.get("ratio_errlib_vs_bare"), TARGETS["train_vs_bare"]),
            "train_vs_mnist_example": target(res.get("ratio_errlib_vs_mnist_example"),
                                             TARGETS["train_vs_mnist_example"])}


def rows(res: dict) -> list:
    tg, e = targets(res), f"{res['errlib']['images_per_s']:.0f}"
    bare = f"bare loop {res['bare']['images_per_s']:.0f}" if "bare" in res else ""
    out = [f"| training epoch, images/s ({res['n_images']} images) | {e} | {bare} | "
           f"{fmt(res['ratio_errlib_vs_bare'])} | {verdict(tg['train_vs_bare'])} |"]
    if "dataloader" in res:
        out.append(f"| training epoch, images/s | {e} | DataLoader+ToTensor (num_workers="
                   f"{res['dataloader']['num_workers']}) {res['dataloader']['images_per_s']:.0f} | "
                   f"{fmt(res['ratio_errlib_vs_dataloader'])} | (was >= 2) |")
    if "mnist_example" in res:
        out.append(f"| training epoch, images/s | {e} | PyTorch MNIST example's pipeline (ToTensor+Normalize) "
                   f"{res['mnist_example']['images_per_s']:.0f} | {fmt(res['ratio_errlib_vs_mnist_example'])} | "
                   f"{verdict(tg['train_vs_mnist_example'])} |")
    return out


if __name__ == "__main__":
    main(__doc__, measure, rows, targets)
