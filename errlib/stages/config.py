"""Profiles and the resolved settings every notebook shares.

A notebook's ``parameters`` cell holds primitives only (``None`` means "the
profile's value"); the next cell calls :func:`resolve`:

    cfg = errlib.stages.config.resolve(profile, dataset=dataset, eps=eps, ...)

Profiles:

* ``smoke``: CI, each notebook in well under a minute on 2 CPU cores; tiny
  subsets, checks only that the effect is above chance;
* ``default``: a laptop CPU, the course's main job, a few minutes;
* ``full``: a GPU, CIFAR-10 with the paper's attack (L2 eps 0.5, step 0.1, 100
  steps) and a CIFAR ResNet-18.

The profile comes from the ``profile`` parameter, else ``$ERRLIB_PROFILE``,
else ``default``.

One :class:`Config`, in sections (:data:`SECTIONS`), rather than a config per
part: Part II and the controls reuse Part I's knobs (the source recipe trains
the weak teacher, the student recipe trains every student, the controls rerun
Part I's stages), so separate configs would copy those fields or nest one in
another, and every notebook's flat ``parameters`` cell would have to learn
which config a name belongs to. :data:`PARTS` says which sections apply to
which notebooks, and :func:`describe` shows only those.

Every setting has one declared range, a line of the table :data:`errlib.stages.params.RANGES`
(why a table and not pydantic: that module's doc); :func:`resolve` and :meth:`Config.replace`
check the whole config against it, before any compute, with messages naming the setting.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..core.attacks import default_step_size
from ..core.data import dataset_info
from ..core import precision as prec
from ..core.train import pick_device
from .params import RANGES, check_parameters, check_settings
from .toy import TRAIN_STEPS as TOY_TRAIN_STEPS

PROFILES = ("smoke", "default", "full")


@dataclass(frozen=True)
class Config:
    """Every setting of the course. Pixel-space radii are in [0, 1] pixel units."""

    profile: str = "default"
    dataset: str = "mnist"  # mnist | fashion_mnist | cifar10
    seed: int = 0
    device: Optional[str] = None  # None: cuda, then mps, then cpu
    precision: str = "auto"  # auto | fp32 | bf16; auto: bf16 where the device has it natively (errlib.core.precision)
    # source model (notebook 01)
    model: str = "cnn"  # architecture of the source model (errlib.core.models)
    n_train: Optional[int] = None  # source training images (None: the whole training set)
    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3
    optimizer: str = "adam"
    schedule: str = "onecycle"
    augment: bool = False
    # attack (notebook 02)
    norm: str = "l2"
    eps: float = 3.0
    steps: int = 20
    step_size: Optional[float] = None  # None: errlib.core.attacks.default_step_size(eps, steps)
    n_attack: int = 20000  # training images attacked to build each error set
    attack_batch_size: int = 512
    # students (notebook 03)
    student_model: str = "cnn"
    student_epochs: int = 10
    student_lr: float = 1e-3
    student_optimizer: str = "adam"
    student_schedule: str = "constant"
    keep: str = "all"  # all | successful: which attacked images the student sees
    # controls and sweeps (notebook 07)
    n_control: int = 5000  # error-set rows each control student trains on
    sweep_eps: Tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)  # radii of the eps sweep
    sweep_n_attack: int = 2000  # images attacked per sweep point
    robust_eps: Tuple[float, ...] = (0.5, 1.0, 2.0)  # radii of the untargeted robustness check
    transfer_models: Tuple[str, ...] = ("cnn", "cnn_wide", "mlp")  # student architectures compared
    transfer_n_train: int = 20000  # clean images for each independent model the transfer rate uses
    # robust-feature leakage (notebooks 02, 04, 07): the robust judge and the seed spread
    judge_model: str = "cnn"  # architecture of the adversarially trained judge (errlib.stages.leakage)
    judge_eps: float = 2.0  # L2 radius of the judge's adversarial training
    judge_steps: int = 3  # PGD steps per training batch of the judge
    judge_epochs: int = 3  # epochs of adversarial training
    judge_n_train: Optional[int] = 20000  # training images of the judge (None: all)
    judge_eval_eps: Tuple[float, ...] = (1.5, 2.0)  # radii of the judge's robustness check
    judge_eval_steps: int = 50  # PGD steps of that check (stronger than training's)
    judge_n_eval: int = 1000  # test images of that check
    judge_seed: int = 0  # the judge's own seed, independent of `seed` (one judge per dataset)
    n_seeds: int = 3  # Part I: seeds seed, seed+1, ... over which notebooks 04 and 07 report each headline student
    # judge-constrained error sets and the grader (notebooks 04, 07; errlib.stages.constrained_sets)
    grader_model: str = "cnn"  # architecture of the grader: a second judge that grades, never constrains
    grader_eps: float = 3.0  # its adversarial-training radius: another than judge_eps, here the attack's
    grader_seed: int = 1  # its own seed, another than judge_seed (an independent training run)
    n_constrained: Optional[int] = None  # first images of each error set attacked again under the judge (None: all; 0: none)
    constrain_lam: float = 10.0  # weight of KL(judge(x) || judge(x + delta)) in the constrained attack (notebook 08 checks it)
    # Wallace's experiments (Part II, notebooks 05-06)
    weak_dataset: str = "fashion_mnist"  # dataset of the weak-teacher experiment (05a)
    teacher_steps: Optional[int] = None  # weak teacher's optimiser steps (None: TEACHER_STEPS[weak_dataset])
    wrong_epochs: int = 4  # epochs of the students trained on the weak teacher's errors (Wallace: 50)
    cross_epochs: int = 4  # epochs of the students trained on MNIST-teacher-labelled Fashion-MNIST
    toy_seeds: int = 30  # random 32-point problems in the 2-D toy (06)
    toy_steps: int = TOY_TRAIN_STEPS  # full-batch Adam steps of the toy's teachers and students
    n_test: Optional[int] = None  # test images the Part II stages score on (None: the whole test set)
    part2_seeds: int = 3  # Part II: seeds seed, seed+1, ... over which notebook 05 reports each student
    planted_seeds: int = 3  # the positive control (notebook 08): planted problems seed, seed+1, ...

    @property
    def num_classes(self) -> int:
        return dataset_info(self.dataset).num_classes

    @property
    def chance(self) -> float:
        return 1.0 / self.num_classes

    @property
    def resolved_step_size(self) -> float:
        return self.step_size if self.step_size is not None else default_step_size(self.eps, self.steps)

    @property
    def resolved_precision(self) -> str:
        """``"fp32"`` or ``"bf16"``: what ``precision`` means on this run's device (part of every stage's key)."""
        return prec.choose(self.precision, pick_device(self.device))

    @property
    def resolved_teacher_steps(self) -> int:
        return self.teacher_steps if self.teacher_steps is not None else TEACHER_STEPS[self.weak_dataset]

    def replace(self, **changes) -> "Config":
        """A copy with some settings changed (validated)."""
        return _validate(dataclasses.replace(self, **changes))

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# The weak teacher's step budget per dataset: the budget that puts its training accuracy
# near Wallace's 62.5% (CIFAR-10 ResNet-18 after 2 epochs) for the course CNN, Adam lr 2e-3,
# batch 128, read off the calibration curve notebook 05 draws.
TEACHER_STEPS = {"mnist": 5, "fashion_mnist": 12,
                 "cifar10": 392}  # CIFAR-10: 2 epochs of 50,000 at batch 256, as Wallace

_BASE = {
    "smoke": dict(n_train=5000, epochs=2, n_attack=1000, steps=10, student_epochs=6,
                  attack_batch_size=500, n_control=300, sweep_eps=(4.0, 5.0), sweep_n_attack=300,
                  robust_eps=(1.0,), transfer_models=("cnn", "mlp"), transfer_n_train=2000,
                  wrong_epochs=3, cross_epochs=2, toy_seeds=20, n_test=2000,
                  judge_n_train=3000, judge_epochs=2, judge_n_eval=200, n_seeds=2,
                  part2_seeds=2, planted_seeds=2),
    "default": dict(),
    # the GPU profile: CIFAR-10's own settings (_DATASET) at the paper's scale
    "full": dict(dataset="cifar10", n_train=None, epochs=30, schedule="onecycle", n_attack=50000,
                 attack_batch_size=1000, student_epochs=30, sweep_eps=(0.25, 0.5, 1.0, 1.5, 2.0),
                 sweep_n_attack=10000, robust_eps=(0.25, 0.5), transfer_models=("resnet18", "cnn_wide", "mlp"),
                 weak_dataset="cifar10", wrong_epochs=50, cross_epochs=5),
}

# Per-dataset values: the radius notebook 07 documents, the models and recipes each dataset needs.
_DATASET = {
    "mnist": dict(eps=3.0),
    "fashion_mnist": dict(eps=3.0, epochs=5, judge_eps=1.5, judge_eval_eps=(1.0, 1.5), grader_eps=2.0),
    "cifar10": dict(model="resnet18", student_model="resnet18", eps=0.5, steps=100, step_size=0.1,
                    judge_model="resnet18", judge_eps=0.5, judge_eval_eps=(0.25, 0.5), judge_steps=7,
                    judge_epochs=30, judge_n_train=None, grader_model="resnet18", grader_eps=0.25,
                    batch_size=256, lr=0.1, optimizer="sgd", augment=True, student_lr=0.01,
                    student_optimizer="sgd", student_schedule="onecycle"),
}


def _validate(cfg: Config) -> Config:
    """``cfg`` (its dataset names without aliases) if every setting is in its declared range
    (:data:`errlib.stages.params.RANGES`) and its device and precision can run here; else a
    ValueError naming the setting, before any compute."""
    check_settings(cfg.to_dict())
    names = {k: dataset_info(getattr(cfg, k)).name for k in ("dataset", "weak_dataset")}
    cfg = dataclasses.replace(cfg, **names) if names != {k: getattr(cfg, k) for k in names} else cfg  # "fmnist"
    try:
        device = pick_device(cfg.device)
    except RuntimeError as exc:  # torch.device("gpu0")
        raise ValueError(f"setting 'device' must be a torch device such as 'cpu', 'cuda' or 'cuda:0', "
                         f"got {cfg.device!r} ({exc})") from None
    prec.choose(cfg.precision, device)  # bf16 where it cannot run: stop now
    return cfg


def profile_from_env(profile: Optional[str] = None) -> str:
    return profile or os.environ.get("ERRLIB_PROFILE") or "default"


def resolve(profile: Optional[str] = None, **overrides) -> Config:
    """The profile's settings for its (or the overridden) dataset, then non-None overrides."""
    profile = profile_from_env(profile)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; allowed: {sorted(known)}")
    base = dict(_BASE[profile])
    dataset = dataset_info(overrides.get("dataset", base.get("dataset", "mnist"))).name
    # a CPU profile takes the dataset's own values over its own; the GPU profile is the paper's scale
    base = dict(base, **_DATASET[dataset]) if profile != "full" else dict(_DATASET[dataset], **base)
    if profile == "smoke" and dataset == "cifar10":
        base.update(n_train=2000, epochs=1, n_attack=200, steps=5, step_size=None, student_epochs=2)
    if "weak_dataset" in overrides:
        overrides["weak_dataset"] = dataset_info(overrides["weak_dataset"]).name
    base.update(overrides, profile=profile, dataset=dataset)
    return _validate(Config(**base))


# The parameter names every notebook's ``parameters`` cell defines (papermill).
PARAMETERS = ("profile", "dataset", "seed", "device", "precision", "model", "n_train", "epochs", "eps",
              "steps", "step_size", "n_attack", "student_model", "student_epochs", "keep")

WITHOUT_RECORD = {"smoke": "under a minute per notebook", "default": "minutes per notebook",
                  "full": "tens of minutes per notebook on one GPU; do not run on a CPU"}


# Config's fields by section, in the order they are declared; every field is in exactly one
# (tests/test_config.py). A new group of knobs gets its own section here and in PARTS.
SECTIONS = {
    "run": ("profile", "dataset", "seed", "device", "precision"),
    "source": ("model", "n_train", "epochs", "batch_size", "lr", "optimizer", "schedule", "augment"),
    "attack": ("norm", "eps", "steps", "step_size", "n_attack", "attack_batch_size"),
    "students": ("student_model", "student_epochs", "student_lr", "student_optimizer", "student_schedule", "keep"),
    "controls": ("n_control", "sweep_eps", "sweep_n_attack", "robust_eps", "transfer_models", "transfer_n_train"),
    "wallace": ("weak_dataset", "teacher_steps", "wrong_epochs", "cross_epochs", "n_test", "part2_seeds"),
    "toy": ("toy_seeds", "toy_steps"),
    "planted": ("planted_seeds",),
    "judge": ("judge_model", "judge_eps", "judge_steps", "judge_epochs", "judge_n_train", "judge_eval_eps",
              "judge_eval_steps", "judge_n_eval", "judge_seed", "n_seeds"),
    "constrained": ("grader_model", "grader_eps", "grader_seed", "n_constrained", "constrain_lam"),
}

# The sections each part of the course uses, after "run" (which every part shows).
PARTS = {
    "part1": ("source", "attack", "students", "judge", "constrained"),  # notebooks 01-04
    "wallace": ("wallace", "toy"),  # notebooks 05-06
    "controls": ("source", "attack", "students", "judge", "constrained", "controls"),  # notebook 07
    "planted": ("planted",),  # notebook 08 (its data and models are its own: errlib.stages.planted)
}


def _describe_section(cfg: Config, section: str) -> str:
    lines = {
        "source": f"  source   : {cfg.model} on {cfg.n_train or 'all'} images, {cfg.epochs} epochs, "
                  f"{cfg.optimizer} lr {cfg.lr:g} ({cfg.schedule}), batch {cfg.batch_size}",
        "attack": f"  attack   : targeted {cfg.norm} PGD, eps {cfg.eps:g}, {cfg.steps} steps of "
                  f"{cfg.resolved_step_size:.3g}, {cfg.n_attack} images per error set",
        "students": f"  students : {cfg.student_model}, {cfg.student_epochs} epochs, {cfg.student_optimizer} "
                    f"lr {cfg.student_lr:g}, keep {cfg.keep!r}; chance {100 * cfg.chance:.0f}%",
        "controls": f"  controls : {cfg.n_control} rows per control student; eps sweep {list(cfg.sweep_eps)} "
                    f"on {cfg.sweep_n_attack} images; robustness at {list(cfg.robust_eps)}; transfer to "
                    f"{list(cfg.transfer_models)} trained on {cfg.transfer_n_train} images",
        "wallace": f"  weak teacher : {cfg.model} on {cfg.n_train or 'all'} {cfg.weak_dataset} images, "
                   f"{cfg.resolved_teacher_steps} optimiser steps (batch {cfg.batch_size}, {cfg.optimizer} "
                   f"lr {cfg.lr:g}, constant)\n"
                   f"  students     : {cfg.student_model}, {cfg.student_optimizer} lr {cfg.student_lr:g}; "
                   f"{cfg.wrong_epochs} epochs on wrong labels, {cfg.cross_epochs} on cross-domain labels; "
                   f"scored on {cfg.n_test or 'all'} test images; over {cfg.part2_seeds} seeds\n"
                   "  MNIST teacher: Part I's source model for MNIST (cached once notebook 01 ran on MNIST)",
        "toy": f"  2-D toy      : {cfg.toy_seeds} seeds, {cfg.toy_steps} full-batch Adam steps",
        "planted": f"  planted  : {cfg.planted_seeds} problems (seeds {cfg.seed} to {cfg.seed + cfg.planted_seeds - 1})",
        "judge": f"  judge    : {cfg.judge_model} adversarially trained at L2 {cfg.judge_eps:g} ({cfg.judge_steps} "
                 f"steps, {cfg.judge_epochs} epochs, {cfg.judge_n_train or 'all'} images, seed {cfg.judge_seed}); "
                 f"headline over {cfg.n_seeds} seeds",
        "constrained": f"  grader   : {cfg.grader_model} at L2 {cfg.grader_eps:g}, seed {cfg.grader_seed}; constrained "
                       f"sets on {'every' if cfg.n_constrained is None else f'the first {cfg.n_constrained}'} attacked image(s) (KL weight {cfg.constrain_lam:g})",
    }
    return lines[section]


def describe(cfg: Config, part: str = "part1", notebook: Optional[str] = None) -> str:
    """A short, printable summary of the settings ``part`` uses (see :data:`PARTS`) and what running
    ``notebook`` (its file stem) alone costs here, from a recorded run (:mod:`errlib.stages.costs`)."""
    from .costs import expected

    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; allowed: {', '.join(PARTS)}")
    device = pick_device(cfg.device)
    cost = expected(notebook, cfg.profile) if notebook else WITHOUT_RECORD[cfg.profile]
    rows = [f"profile {cfg.profile!r} on {device}: expect {cost}",
            f"  precision: {prec.explain(cfg.precision, device)}",
            f"  data     : {cfg.dataset}, seed {cfg.seed}" if part != "wallace" else f"  seed         : {cfg.seed}"]
    return "\n".join(rows + [_describe_section(cfg, s) for s in PARTS[part]])


def add_profile_argument(parser, help: str = "the profile: smoke | default | full") -> None:
    """``--profile`` for a command line: one of :data:`PROFILES`, default ``$ERRLIB_PROFILE`` else ``default``."""
    parser.add_argument("--profile", default=profile_from_env(), choices=list(PROFILES), help=help)


def from_notebook(namespace: Dict[str, Any], extra: Sequence[str] = ()):
    """Resolve a config from a notebook's parameter variables.

    Reads the shared names in ``PARAMETERS`` plus a chapter's ``extra`` ones
    (which must be :class:`Config` fields); lists become tuples. A global that
    looks injected by ``papermill -p`` (a str, number, bool, None, list or
    tuple under a public name the notebook does not declare, e.g. a misspelt
    ``epss``) or a value out of its range stops the notebook here, before any
    compute, with the valid names (:func:`check_parameters`).
    """
    names = tuple(PARAMETERS) + tuple(extra)
    missing = [k for k in names if k not in namespace]
    if missing:
        raise ValueError(f"the parameters cell must define {missing}")
    ipython = {"In", "Out", "exit", "quit", "get_ipython"}
    injected = {k: v for k, v in namespace.items()
                if not k.startswith("_") and k not in ipython
                and isinstance(v, (str, int, float, bool, list, tuple, type(None)))}
    check_parameters(injected, names)
    from .cache import runs_root, writable_folder

    writable_folder(runs_root(), "the runs folder", "ERRLIB_RUNS")  # stages are saved there: say so now
    values = {k: tuple(v) if isinstance(v, list) else namespace[k] for k in names for v in [namespace[k]]}
    return resolve(values.pop("profile"), **values)

