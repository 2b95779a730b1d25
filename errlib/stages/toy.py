"""Wallace's 2-D toy: a student learns from a teacher's adversarial *flips* alone.

The experiment (``reference.md`` §3.2), for one random problem:

1. :func:`make_points`: 32 points uniform in the unit square, random binary labels;
2. a small MLP *teacher* fits all 32 (full-batch Adam);
3. untargeted L-inf PGD (:func:`errlib.core.attacks.pgd`) moves each point at most 0.12
   per coordinate; we keep the points whose teacher prediction flips from right
   to wrong, each labelled with the teacher's new (wrong) class;
4. a fresh MLP *student* trains on those flipped points only;
5. score the student on the 32 *original* points with their original labels
   (Wallace: 23 of 32).

Many seeds run at once: :class:`MLPBank` holds ``S`` independent MLPs as
batched weight tensors, so one full-batch optimiser step trains every seed's
model (the loss is a sum of per-seed losses and Adam is element-wise, so this
is exactly ``S`` separate trainings). Problem ``s``'s points and initial weights
come from ``s`` and a name (:mod:`errlib.core.seeds`: ``"toy_points"``,
``"toy_teacher_init"``, ``"toy_student_init"``), not from which other problems
run beside it.

Shapes: points are float32 in [0, 1]; one problem is ``X (N, 2)``, ``y (N,)``
int64 in {0, 1}; a bank of ``S`` problems is ``X (S, N, 2)``, ``y (S, N)``.

Why :func:`train_bank` rather than ``core.train.fit``: ``fit`` trains one model on minibatches of
images; here ``S`` models train at once, full batch, as one stacked tensor (:class:`MLPBank`), which
is what makes 30 problems cost about a second. The attack is ``core.attacks.pgd`` itself.

    res = toy.run_problems(seeds=range(30))
    res.student_correct        # (S,) original points each student gets right
    res.teacher_fits           # (S,) bool, teacher right on all N points
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.attacks import pgd
from ..core.parallel import num_threads
from ..core.seeds import generator

# Wallace's setting and the defaults that reproduce it on a CPU in seconds.
N_POINTS = 32
EPS = 0.12  # L-inf radius: squares of side 0.24 around each point
HIDDEN = (100, 100)
LR = 1e-2
TRAIN_STEPS = 1000  # full-batch Adam steps, teacher and student alike (config.toy_steps' default)
ATTACK_STEPS = 50
ATTACK_STEP_SIZE = 0.01  # 50 sign steps of 0.01 can cross the whole square
INPUT_STD = 12 ** -0.5  # std of U(0, 1): the first layer sees centred, unit-variance inputs


def make_points(n: int = N_POINTS, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform in [0, 1)^2 (float32 ``(n, 2)``) and random labels (int64 ``(n,)`` in {0, 1})."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    g = generator(seed, "toy_points")
    X = torch.rand((n, 2), generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    return X, y


def make_bank(seeds: Sequence[int], n: int = N_POINTS) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`make_points` for every seed, stacked: ``X (S, n, 2)``, ``y (S, n)``."""
    pts = [make_points(n, s) for s in seeds]
    return torch.stack([p[0] for p in pts]), torch.stack([p[1] for p in pts])


def standardize(x: torch.Tensor) -> torch.Tensor:
    """``(x - 0.5) / INPUT_STD``: centred, unit-variance inputs for points uniform in [0, 1]^2."""
    return (x - 0.5) / INPUT_STD


class Standardize(nn.Module):
    """:func:`standardize` as a layer (the first layer of :meth:`MLPBank.member`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return standardize(x)


class MLPBank(nn.Module):
    """``S`` independent MLPs ``2 -> hidden... -> 2`` (ReLU), stored as batched weights.

    ``forward`` takes ``(S, N, 2)`` and returns logits ``(S, N, 2)``; it also
    takes the flattened ``(S * N, 2)`` (rows of problem ``s`` contiguous) and
    returns ``(S * N, 2)``, which is what :func:`errlib.core.attacks.pgd` passes.
    Member ``i`` is initialised from ``seeds[i]`` and ``role`` alone (the seed
    name ``f"toy_{role}_init"``), like ``nn.Linear`` (uniform in +-1/sqrt(fan_in)).
    """

    def __init__(self, seeds: Sequence[int], hidden: Sequence[int] = HIDDEN, in_dim: int = 2,
                 num_classes: int = 2, *, role: str = "teacher"):
        super().__init__()
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("MLPBank needs at least one seed")
        self.dims = [in_dim, *hidden, num_classes]
        ws, bs = [[] for _ in self.dims[1:]], [[] for _ in self.dims[1:]]
        for s in self.seeds:
            g = generator(s, f"toy_{role}_init")
            for i, (a, b) in enumerate(zip(self.dims[:-1], self.dims[1:])):
                bound = 1 / math.sqrt(a)
                ws[i].append((torch.rand((a, b), generator=g) * 2 - 1) * bound)
                bs[i].append((torch.rand((1, b), generator=g) * 2 - 1) * bound)
        self.weights = nn.ParameterList([nn.Parameter(torch.stack(w)) for w in ws])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack(b)) for b in bs])

    def __len__(self) -> int:
        return len(self.seeds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.dim() == 2
        h = x.view(len(self), -1, x.shape[-1]) if flat else x
        h = standardize(h)  # normalisation inside the model, as in errlib.core.models
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = F.relu(h)
        return h.reshape(-1, h.shape[-1]) if flat else h

    def member(self, i: int) -> nn.Sequential:
        """Problem ``i``'s model as an ordinary ``nn.Sequential`` (``Standardize``, then
        ``Linear``/``ReLU``), a copy taking ``(M, 2)`` points; same outputs as the bank."""
        layers = [Standardize()]
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
            layers.append(lin)
            if j < len(self.weights) - 1:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers).eval()


def train_bank(bank: MLPBank, X: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor] = None, *,
               steps: int = TRAIN_STEPS, lr: float = LR) -> torch.Tensor:
    """Full-batch Adam on every member at once; returns each member's final loss ``(S,)``.

    ``X (S, N, 2)``, ``y (S, N)``; ``weight (S, N)`` (0/1 or any non-negative)
    restricts each member to its own subset: member ``s`` minimises the
    weighted mean cross-entropy over its points with ``weight > 0`` (a member
    with no such point is left untrained).
    """
    if weight is None:
        weight = torch.ones(y.shape)
    weight = weight.float()
    denom = weight.sum(1).clamp_min(1e-12)
    opt = torch.optim.Adam(bank.parameters(), lr=lr, foreach=True)  # bitwise the per-parameter loop's weights
    bank.train()
    # One thread: the toy's tensors are tiny, and splitting them over threads costs more
    # than it saves (benchmarks/README.md).
    with num_threads(1):
        for _ in range(steps):
            ce = F.cross_entropy(bank(X).transpose(1, 2), y, reduction="none")  # (S, N)
            per_member = (ce * weight).sum(1) / denom
            opt.zero_grad(set_to_none=True)
            per_member.sum().backward()
            opt.step()
    bank.eval()
    return per_member.detach()


@torch.no_grad()
def predict_bank(bank: MLPBank, X: torch.Tensor) -> torch.Tensor:
    """Predicted classes ``(S, N)`` for points ``X (S, N, 2)``."""
    return bank(X).argmax(-1)


def flip_attack(bank: MLPBank, X: torch.Tensor, y: torch.Tensor, *, eps: float = EPS,
                steps: int = ATTACK_STEPS, step_size: float = ATTACK_STEP_SIZE):
    """Untargeted L-inf PGD on every point of every member, via :func:`errlib.core.attacks.pgd`.

    Returns ``(x_adv (S, N, 2), pred (S, N), flipped (S, N) bool)``: ``flipped``
    marks points the teacher classified correctly whose prediction changes
    within the ``eps``-box (clipped to [0, 1]^2). Binary labels, so the new
    prediction is always ``1 - y``.
    """
    S, N, d = X.shape
    with num_threads(1):
        res = pgd(bank, X.reshape(S * N, d), y.reshape(S * N), eps=eps, steps=steps, step_size=step_size,
                  norm="linf", targeted=False, batch_size=S * N, progress=False)
    right_before = predict_bank(bank, X) == y
    flipped = res.success.view(S, N) & right_before
    return res.x_adv.view(S, N, d), res.pred.view(S, N), flipped


@dataclass
class ToyResult:
    """Everything :func:`run_problems` produced; ``S`` problems of ``N`` points."""

    seeds: list
    X: torch.Tensor  # (S, N, 2) original points
    y: torch.Tensor  # (S, N) original labels
    teacher: MLPBank
    student: MLPBank
    x_adv: torch.Tensor  # (S, N, 2) the teacher's best adversarial point for each original
    adv_pred: torch.Tensor  # (S, N) the teacher's class at x_adv
    flipped: torch.Tensor  # (S, N) bool, kept for the student (labelled adv_pred)
    teacher_correct: torch.Tensor  # (S,) original points the teacher gets right
    student_correct: torch.Tensor  # (S,) original points the student gets right

    @property
    def n_points(self) -> int:
        return self.X.shape[1]

    @property
    def teacher_fits(self) -> torch.Tensor:
        """(S,) bool: the teacher is right on every original point."""
        return self.teacher_correct == self.n_points

    @property
    def n_flipped(self) -> torch.Tensor:
        return self.flipped.sum(1)

    def summary(self) -> dict:
        sc = self.student_correct.float()
        fit = self.teacher_fits
        return {"seeds": len(self.seeds), "points": self.n_points,
                "teachers_fitting_all": int(fit.sum()),
                "student_correct_mean": sc.mean().item(),
                "student_correct_sd": sc.std().item() if len(sc) > 1 else 0.0,
                "student_correct_mean_fitting": sc[fit].mean().item() if fit.any() else float("nan"),
                "flipped_mean": self.n_flipped.float().mean().item()}


def run_problems(seeds: Sequence[int] = range(30), *, n_points: int = N_POINTS, eps: float = EPS,
        hidden: Sequence[int] = HIDDEN, steps: int = TRAIN_STEPS, lr: float = LR,
        attack_steps: int = ATTACK_STEPS, attack_step_size: float = ATTACK_STEP_SIZE) -> ToyResult:
    """The whole toy experiment for every seed at once (seconds on a CPU); see the module doc."""
    seeds = [int(s) for s in seeds]
    X, y = make_bank(seeds, n_points)
    teacher = MLPBank(seeds, hidden)
    train_bank(teacher, X, y, steps=steps, lr=lr)
    teacher_correct = (predict_bank(teacher, X) == y).sum(1)
    x_adv, adv_pred, flipped = flip_attack(teacher, X, y, eps=eps, steps=attack_steps,
                                           step_size=attack_step_size)
    student = MLPBank(seeds, hidden, role="student")  # its own initial weights, not the teacher's
    train_bank(student, x_adv, adv_pred, flipped, steps=steps, lr=lr)
    student_correct = (predict_bank(student, X) == y).sum(1)
    return ToyResult(seeds, X, y, teacher, student, x_adv, adv_pred, flipped,
                     teacher_correct, student_correct)


@torch.no_grad()
def decision_grid(model: nn.Module, n: int = 200) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(g, p)``: grid coordinates ``g (n,)`` in [0, 1] and ``p (n, n)``, the
    probability of class 1 at ``(x=g[j], y=g[i])`` for a model on ``(M, 2)`` inputs
    (e.g. :meth:`MLPBank.member`)."""
    g = torch.linspace(0, 1, n)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    p = model(pts).softmax(-1)[:, 1].view(n, n)
    return g, p
