# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 06 · The 2-D toy: a boundary learned from the teacher's flips alone
#
# *Part II, chapter 2 of 2 — Wallace (2019), "Learning from Incorrectly Labeled Data", the
# two-dimensional example (`reference.md`, §3.2).*
#
# **Question.** Notebook 05 asked whether a model's wrong labels teach a student its
# function. Here is the same question small enough to *see*. Take 32 random points in the
# unit square with random binary labels, a small network (the teacher) that fits them
# all, and an adversary that moves each point at most 0.12 per coordinate. Keep only the
# points whose teacher label flips, each labelled with its new (wrong) class. A fresh
# student trains on those alone. How many of the 32 *original* points does it classify
# correctly?
#
# **What each outcome would mean.** If the flipped points were noise, the student would
# score about 16 of 32 (chance), or worse, since every training label contradicts the
# original point nearby. If they carry the teacher's function, a student that fits them can
# recover part of it and score above 16. Wallace drew one problem; we draw many and report
# the mean and the spread, beside his number, after you have guessed.
#
# | | |
# |---|---|
# | you will see | Wallace's three panels (teacher, flipped points, student), the score over many seeds |
# | previous / next | `05_wrong_labels.ipynb` / Part III, `07_controls.ipynb` |

# %% [markdown] slideshow={"slide_type": "slide"}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/YOUR-ORG/errlib/blob/main/notebooks/06_toy_2d.ipynb)
#
# **Learning objectives.** After this notebook you can:
# - run Wallace's 2-D toy: a teacher fits 32 random points, an $L_\infty$ adversary flips
#   some, and a student trained only on the flipped points is scored on the originals;
# - explain, from the picture, how points that all carry the opposite label could still
#   teach the teacher's boundary, and read the measured score to say whether they did;
# - report a result as a spread over many random problems rather than one draw.
#
# **Prerequisites.** Notebook 05 (the idea of learning from a teacher's mistakes). Nothing
# needs to be cached: the toy builds everything in seconds.
#
# **Time.** Running it: well under a minute on a laptop CPU (default profile), seconds once
# cached; docs/results.md has the recorded run's times. Studying it: about 20 minutes,
# plus 15 for the exercises.
#
# **Sources.** The course's own reference, [`docs/reference.md`](../docs/reference.md) (§3.2
# the toy, §7 the CPU check); the paper, Ilyas et al. 2019,
# [arXiv:1905.02175](https://arxiv.org/abs/1905.02175); the Distill discussion with its six
# responses and the authors' replies,
# [distill.pub/2019/advex-bugs-discussion](https://distill.pub/2019/advex-bugs-discussion/).

# %% [markdown]
# ## Setup

# %% slideshow={"slide_type": "skip"}
# Colab only: a fresh Colab kernel has no errlib, so fetch the course and install it.
# Anywhere else (your laptop, papermill, CI) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    REPO = "YOUR-ORG/errlib"  # errlib.run.site.GITHUB_REPO: a placeholder until the course is published (README)
    if not os.path.isdir("/content/errlib"):
        subprocess.run(["git", "clone", "--depth", "1", f"https://github.com/{REPO}.git", "/content/errlib"],
                       check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/errlib", "papermill"],
                   check=True)
    sys.path.insert(0, "/content/errlib")
    os.chdir("/content/errlib/notebooks")

# %%
import os
from typing import Optional

import torch

import errlib
from errlib import config, data, pipeline, plotting, reference, report
from errlib.stages import costs
from errlib.stages.pipeline import RULE_NAMES

plotting.setup()
from errlib import toy, toy_plots

# %% [markdown]
# ## Parameters
# The shared parameters first; only `seed` matters here (the problems are seeds `seed`,
# `seed + 1`, ...; the first one is drawn). Then this chapter's own.

# %% tags=["parameters"]
profile: str = os.environ.get("ERRLIB_PROFILE", "default")  # smoke | default | full (CPU, laptop CPU, GPU)
dataset: Optional[str] = None  # mnist | fashion_mnist | cifar10 (None: the profile's)
seed: int = 0  # seed for subsets, attack targets and initial weights
device: Optional[str] = None  # cpu | cuda | mps (None: best available)
precision: Optional[str] = None  # auto | fp32 | bf16 (None: auto, bf16 only where the device computes it natively)
model: Optional[str] = None  # source architecture: cnn | cnn_wide | mlp | resnet18
n_train: Optional[int] = None  # clean training images for the source model (None: profile's)
epochs: Optional[int] = None  # source-model training epochs
eps: Optional[float] = None  # L2 radius in [0,1] pixels
steps: Optional[int] = None  # PGD steps per image
step_size: Optional[float] = None  # PGD step length in [0,1] pixels (None: 2.5 * eps / steps)
n_attack: Optional[int] = None  # training images attacked to build each error set
student_model: Optional[str] = None  # architecture of the models trained on errors
student_epochs: Optional[int] = None  # training epochs of those students
keep: Optional[str] = None  # all | successful: which attacked images students train on
toy_seeds: Optional[int] = None  # number of random 32-point problems, run at once (None: profile's)
toy_steps: Optional[int] = None  # full-batch Adam steps for each teacher and each student (None: profile's)

# %%
# Derived settings: every value the parameters left as None comes from the profile.
cfg = config.from_notebook(globals(), extra=["toy_seeds", "toy_steps"])
print("expect", costs.expected("06_toy_2d", cfg.profile))
seeds = list(range(cfg.seed, cfg.seed + cfg.toy_seeds))
print(f"profile {cfg.profile!r}: {len(seeds)} problems of {toy.N_POINTS} points (seeds {seeds[0]}-{seeds[-1]}); "
      f"MLP {toy.HIDDEN}, Adam lr {toy.LR:g}, {cfg.toy_steps} full-batch steps; L-inf PGD radius {toy.EPS}, "
      f"{toy.ATTACK_STEPS} sign steps of {toy.ATTACK_STEP_SIZE}; float32 (the toy's tiny MLPs ignore "
      f"precision, which resolves to {cfg.resolved_precision} here)")

# %% [markdown]
# ## The recipe, one step at a time
# `errlib.stages.toy` holds the whole experiment; each step is one call.
#
# 1. **Data**: `toy.make_points(32, seed)` gives points `X` of shape `(32, 2)` in $[0,1]^2$ and
#    labels `y` in {0, 1}, uniform and independent: there is no pattern to learn.
# 2. **Teacher**: an MLP with two hidden layers of 100 units (inputs centred and scaled
#    inside the model, as every errlib model normalises its own input), trained full-batch
#    with Adam until it fits all 32 points. `toy.MLPBank` trains many seeds' MLPs at once
#    as batched weight tensors; each is an independent model.
# 3. **Attack**: untargeted $L_\infty$ PGD from `errlib.core.attacks.pgd` (the same function that
#    built D_rand and D_det), radius 0.12, 50 signed-gradient steps of 0.01, best iterate
#    kept. In two classes "untargeted" means "toward the other class".
# 4. **Keep the flips**: the points the teacher classified correctly and whose prediction
#    changed inside the box, labelled with the teacher's new answer, $1 - y$.
# 5. **Student**: a fresh MLP of the same shape, trained on the kept points only, then
#    scored on the 32 originals with their original labels.

# %% [markdown]
# **Predict first.** Before running the next cell, write down how many of the 32 original
# points a student trained only on flipped points will get right (16 is chance). The
# notebook sets your guess beside the measurement afterwards; leaving it `None` is fine.

# %%
from errlib import exercises

my_guess_toy = None  # your guess: original points (of 32) the student gets right, on average over seeds

# %%
res = toy.run_problems(seeds, steps=cfg.toy_steps)
i = 0  # the first problem, seed cfg.seed, is the one we draw
n_flip = int(res.flipped[i].sum())
print(f"seed {seeds[i]}: teacher right on {int(res.teacher_correct[i])}/{res.n_points}; "
      f"{n_flip} points flip within the box; student right on {int(res.student_correct[i])}/{res.n_points} "
      f"original points")
shift = (res.x_adv[i] - res.X[i]).abs().amax(1)
print(f"largest move of a flipped point: {shift[res.flipped[i]].max():.3f} (L-inf radius {toy.EPS})")

# %%
fig = toy_plots.toy_panels(res.X[i], res.y[i], toy.decision_grid(res.teacher.member(i)), res.x_adv[i],
                          res.adv_pred[i], res.flipped[i], toy.decision_grid(res.student.member(i)), toy.EPS,
                          student_correct=int(res.student_correct[i]))

# %% [markdown]
# **Reading the panels** (blue: class 0, red: class 1; the black line is the model's
# boundary).
# 1. The teacher's boundary winds between the points to get all 32 right; each grey square
#    is the region the adversary may move a point within.
# 2. The flipped points (crosses, coloured by their *new* label) lie just across the
#    teacher's boundary from where they started (circles), so each one is mislabelled with
#    respect to its own original point. The student sees only these.
# 3. The student never sees the circles, so nothing forces its boundary between a cross and
#    its origin. What it sees is a set of points labelled by the *teacher's* answer at those
#    places, all lying close to the teacher's boundary on the teacher's side of it. Fitting
#    them makes the student imitate the teacher's function there, and the teacher labels the
#    origins correctly. Whether that imitation reaches the origins, which lie up to 0.12
#    away, is what the student's score on them measures: compare the third panel with the
#    first.

# %% [markdown]
# ## Over many random problems
# One problem is one draw. All `toy_seeds` problems ran in the same call; here is the
# student's score on each.

# %%
s = res.summary()
fits = int(s["teachers_fitting_all"])
print(f"{s['seeds']} problems: teachers fitting all {res.n_points} points: {fits}/{s['seeds']}")
print(f"points that flip: {s['flipped_mean']:.1f} of {res.n_points} on average (Wallace's figure: about 14)")
print(f"student right on {s['student_correct_mean']:.1f} ± {s['student_correct_sd']:.1f} of {res.n_points} "
      f"original points (mean ± sd over seeds; chance {res.n_points // 2}; Wallace "
      f"{reference.WALLACE['toy_student_correct']})")
print(f"  over the {fits} problems whose teacher fits all points: {s['student_correct_mean_fitting']:.1f}")
print(f"  scores: {res.student_correct.tolist()}")
fig = toy_plots.toy_seed_histogram(res.student_correct.tolist(), res.n_points,
                                  reference=reference.WALLACE["toy_student_correct"])

# %%
exercises.compare_prediction("toy student, original points right (of 32)", my_guess_toy,
                              s["student_correct_mean"], percent=False)

# %% [markdown]
# ## Check and record

# %%
mean_correct = s["student_correct_mean"]
moved = (res.x_adv - res.X).abs().amax(-1)
assert float(moved.max()) <= toy.EPS + 1e-6, "an attacked point left its L-inf box"
assert bool(((res.adv_pred != res.y) | ~res.flipped).all()), "a kept point did not flip"
if cfg.profile == "smoke":
    assert fits >= 0.8 * s["seeds"], f"only {fits} of {s['seeds']} teachers fit all points"
    assert mean_correct > res.n_points / 2 + 2, f"students not above chance: {mean_correct:.1f}"
report.save_results("06_toy_2d", cfg, {
    "toy_student_correct_mean": report.count(mean_correct, reference=reference.WALLACE["toy_student_correct"],
                                             source="Wallace, one 32-point problem (ours: mean over seeds)"),
    "toy_student_correct_sd": report.count(s["student_correct_sd"]),
    "toy_student_accuracy": report.fraction(
        mean_correct / res.n_points, reference=reference.WALLACE["toy_student_correct"] / reference.WALLACE["toy_points"],
        source="Wallace, 23/32"),
    "toy_seeds": report.count(s["seeds"]),
    "toy_teachers_fitting_all": report.count(fits),
    "toy_flipped_mean": report.count(s["flipped_mean"])})

# %% [markdown]
# ## What it means

# %%
from IPython.display import Markdown, display

chance_pts = res.n_points / 2
se_mean = s["student_correct_sd"] / max(s["seeds"], 1) ** 0.5  # standard error of the mean over problems
if mean_correct > chance_pts + 2 * se_mean:
    toy_verdict = ("above chance beyond the noise of the mean: the flipped points, each labelled by the teacher, "
                   "carried enough of the teacher's function to classify the originals")
elif mean_correct > chance_pts:
    toy_verdict = "above chance, but within two standard errors of it: no clear signal on this run"
else:
    toy_verdict = "at or below chance: the flipped points did not teach the teacher's function on this run"
display(Markdown(f"Over {s['seeds']} problems the student gets **{mean_correct:.1f} of {res.n_points}** originals "
                 f"right on average (sd {s['student_correct_sd']:.1f}; chance {chance_pts:.0f}; Wallace's one "
                 f"problem: {reference.WALLACE['toy_student_correct']}): {toy_verdict}."))

# %% [markdown]
# - **What the flipped points carry.** Every training label the student saw was wrong for
#   the point it came from. If the student still beats chance on the originals (the verdict
#   above), the reason is that the adversarial points are not random noise: they are samples
#   placed against the teacher's decision boundary and labelled by the teacher, so fitting
#   them is distillation.
# - **No "non-robust features" here in the image sense**: two coordinates, no texture, no
#   hidden pattern. This is Wallace's point in miniature: where the student learns from a
#   model's adversarial errors, it needs nothing beyond the fact that the model chose the
#   labels.
# - **One problem is a noisy measurement.** The score varies from seed to seed (the standard
#   deviation above); Wallace's single problem, 23 of 32, is one draw from such a spread.
# - **More points may flip here than in Wallace's figure** (compare the mean printed above
#   with his about 14 of 32).
#   Our attack keeps each point's strongest iterate and our teacher's boundary winds
#   tightly between the points, so a box can often reach across it; Wallace does not say how
#   he attacked or trained. Either way the student is trained on whatever flipped.
# - **Bugs that do not teach exist too** (Nakkiran's Distill response, discussed in notebook
#   05): an attack can find flips that belong to one model alone. Here the flips are the
#   teacher's own boundary, which is exactly what a student can copy.
#
# **End of Part II.** Part I asked whether errors crafted by an attack teach a student to
# classify clean data, and notebook 04 asked how much of that survives once the rows a
# robust judge reads as their target are removed (robust-feature leakage). Part II asks
# whether a model's plain wrong labels, even on another dataset, teach too. The two readings
# do not compete: the attack is one channel for the source model's features, a model's
# choice of label is another, and a student that learns from either is being distilled from
# that model. Your runs' numbers, rendered in 04, 05 and here, say how far each channel
# carried on this dataset.
#
# **Next, notebook 07 (Part III):** controls that try to break Part I's effect,
# each with its expected outcome written down before it runs.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
# Coding exercises: fill in the function and run its cell. `exercises.check` prints
# **PASS**, **FAIL** with a hint, or *not attempted* while the stub still raises
# `NotImplementedError` (the notebook runs to the end either way). Reference solutions are
# kept apart from the notebooks, in `errlib/teach/solutions.py`: try first. Questions: answer in
# your own words, then open the hidden answer. `print(exercises.listing("06"))` lists this
# notebook's exercises.

# %%
from errlib import exercises

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 06.1 (coding): the L-inf projection
# The toy's adversary may move each coordinate by at most `eps` (a square of side
# $2\varepsilon$). Write its projection: clip `x` to $[x_0 - \varepsilon, x_0 +
# \varepsilon]$ coordinate by coordinate, then to $[0, 1]$.

# %%
def linf_project(x, x0, eps):
    """(N, D) -> (N, D): each coordinate within eps of x0, and in [0, 1]."""
    # your code here
    raise NotImplementedError


exercises.check("linf_project", linf_project)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 06.2 (coding): which points flipped?
# Wallace keeps only the points whose teacher label *flips* under the attack. Write
# `keep_flips(y, pred_clean, pred_adv)`, a bool mask of the points the teacher classified
# correctly before the attack and incorrectly after it. A point the teacher got wrong before
# the attack is never a flip, even when the attack changes its label (with two classes, as
# here, the changed label is then the right one).

# %%
def keep_flips(y, pred_clean, pred_adv):
    """(N,) x 3 int64 -> (N,) bool: right before the attack, wrong after it."""
    # your code here
    raise NotImplementedError


exercises.check("keep_flips", keep_flips)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 06.3 (question): flips here and in Wallace's figure <!-- q06_more_flips -->
# Compare the mean number of flipped points printed above with Wallace's figure (about 14 of
# 32). If more points flip here, name two differences in the setup that could explain it, and
# say whether the count matters for the conclusion.
#
# <details><summary>Answer</summary>
#
# Wallace does not say how he attacked or trained. Here the attack keeps each point's best
# iterate over 50 signed steps, and the teacher (two hidden layers of 100 units, trained to
# fit every point) has a boundary that winds tightly between the points, so a square of side
# 0.24 can often reach across it. The conclusion does not depend on the count: the student is
# trained on whatever flipped and is scored on the originals.
#
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Recap
# - Thirty-two random points with random labels have no pattern to learn. A student trained
#   only on the teacher's flipped points, each labelled opposite to its origin, is scored on
#   the originals; the rendered verdict says whether it beat chance on this run.
# - The flipped points sit just across the teacher's boundary and carry the teacher's
#   labels there, so fitting them imitates the teacher: distillation, in two dimensions.
# - One random problem is one noisy draw; the course reports the mean and spread over many.
#
# ### Check your understanding
# **1. Every training label contradicts the original point nearby. How can the student
# still beat chance?**
#
# <details><summary>Answer</summary>
#
# Not because its boundary must pass between each cross and its origin: the origins are not
# training points, so nothing forces that. The crosses are points labelled by the teacher's
# own answer, placed along the teacher's boundary. A student that fits them imitates the
# teacher's function in that region, and the teacher classifies every origin correctly; the
# closer the imitation reaches to the origins, the more of them the student gets right.
#
# </details>
#
# **2. Is there a "non-robust feature" in this toy?**
#
# <details><summary>Answer</summary>
#
# Not in the image sense: two coordinates, no texture. The effect needs only that a trained
# model chose the labels, which is Wallace's point.
#
# </details>
#
# **3. Why run many seeds when Wallace showed one problem?**
#
# <details><summary>Answer</summary>
#
# A score can differ from one random problem to the next (the standard deviation over seeds,
# printed above, says by how much on this run); a single draw cannot tell a typical result
# from a lucky one. The mean and standard deviation over seeds can.
#
# </details>

