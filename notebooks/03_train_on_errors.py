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
# # 03 · Training on errors alone
#
# *Part I, chapter 3 of 4 — Ilyas et al. (2019), Section 3.2, step 5 of the construction.*
#
# **Question.** A fresh model, never shown a single correctly labelled clean image, is
# trained only on D_rand or only on D_det. What does it learn?
#
# **What each outcome would mean.** A network can fit almost any labelling, so fitting its
# training set says little. The question is the *clean test set*, scored with the true
# labels, which we watch after every epoch:
# - If adversarial perturbations were meaningless noise ("bugs"), the students would
#   memorise noise and score about chance on clean images, or, for D_det, *below* chance on
#   $y$, answering the shifted class that each image's visible shape was paired with.
# - If the perturbations carry features of the target class that also occur in natural
#   images of that class, the students can learn them and score above chance with the true
#   labels.
#
# D_det is the sharper test, with a condition. Every training image was labelled $y+1$; as
# long as it still *looks* like $y$, its robust features say $y$ and only what the
# perturbation added agrees with the label. Where the perturbation drew a visible $y+1$
# (robust-feature leakage), the robust features agree with the label too. Notebook 02's
# robust judge measures how many rows are of that kind; notebook 04 trains students without
# them. This notebook trains the plain students, and what their scores can and cannot show
# is set out after the run.
#
# | | |
# |---|---|
# | you will see | training curves: fitting the errors vs accuracy on clean test images |
# | previous / next | `02_craft_errors.ipynb` / `04_measure.ipynb` |

# %% [markdown] slideshow={"slide_type": "slide"}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/YOUR-ORG/errlib/blob/main/notebooks/03_train_on_errors.ipynb)
#
# **Learning objectives.** After this notebook you can:
# - train fresh students on D_rand and D_det alone, and read a curve of *fitting the errors*
#   beside one of *clean test accuracy*;
# - read a D_det student's clean accuracy against chance and say what each outcome would
#   mean: at or below chance, above chance through planted non-robust features, or above
#   chance through robust features the attack drew (leakage);
# - state the paper's definitions of a useful, a robustly useful and a non-robust feature;
# - write a target rule of your own (D_other, never the true class).
#
# **Prerequisites.** Notebooks 01-02 (the error sets; rebuilt from the cache if you skip
# them). What overfitting and generalisation mean.
#
# **Time.** Running it: a minute or two on a laptop CPU (default profile), seconds once
# cached; docs/results.md has the recorded run's times. Studying it: about 20 minutes, plus 15 for the exercises.
#
# **Sources.** The course's own reference, [`docs/reference.md`](../docs/reference.md) (§2.1
# and §2.4 training on D_rand / D_det, §6 what reproductions teach); the paper, Ilyas et al.
# 2019, [arXiv:1905.02175](https://arxiv.org/abs/1905.02175); the Distill discussion with
# its six responses and the authors' replies,
# [distill.pub/2019/advex-bugs-discussion](https://distill.pub/2019/advex-bugs-discussion/).

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
from errlib import config, data, leakage, pipeline, plotting, reference, report
from IPython.display import Markdown, display
from errlib.stages.pipeline import RULE_NAMES

plotting.setup()

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

# %%
# Derived settings: every value the parameters left as None comes from the profile.
cfg = config.from_notebook(globals())
print(config.describe(cfg, notebook="03_train_on_errors"))

# %% [markdown]
# ## The error sets
# Loaded from the cache (or built now, with the source model, if 01-02 have not run).

# %%
source = pipeline.get_source(cfg)
errsets = {RULE_NAMES[r]: pipeline.get_errset(cfg, r, source=source) for r in ("all", "shift")}
for name, (es, _) in errsets.items():
    kept = int(es.success.sum()) if cfg.keep == "successful" else len(es)
    print(f"{name}: {len(es)} images, attack success {100 * es.success_rate:.1f}%, "
          f"student trains on {kept} (keep={cfg.keep!r})")

# %% [markdown]
# ## Train one fresh student per error set
# Same architecture as the source by default (`student_model`), new random weights, trained
# with the course's standard recipe. `fit` reports, after every epoch, the accuracy on the
# student's own (wrong) labels and on the clean test set with the true labels.

# %% [markdown]
# ## The paper's vocabulary
# Ilyas et al. (§2) state their claim about *features*, in the binary case with labels
# $y \in \{-1, +1\}$. A feature is a function $f$ from inputs to real numbers, shifted and
# scaled so that $\mathbb{E}[f(x)] = 0$ and $\mathbb{E}[f(x)^2] = 1$ over the data
# distribution $\mathcal{D}$.
# - **$\rho$-useful**: $\mathbb{E}_{(x, y) \sim \mathcal{D}}[\, y \cdot f(x) \,] \ge \rho$ for
#   some $\rho > 0$: on natural data, $f$ is correlated with the label.
# - **$\gamma$-robustly useful**: $\rho$-useful, and still correlated under the worst allowed
#   perturbation, $\mathbb{E}_{(x, y) \sim \mathcal{D}}\big[\inf_{\delta \in \Delta(x)}
#   y \cdot f(x + \delta)\big] \ge \gamma$ for some $\gamma > 0$; $\Delta(x)$ is the set of
#   allowed perturbations, here the $L_2$ ball of radius $\varepsilon$. An average over the
#   data, not a promise at every point.
# - **Useful, non-robust**: $\rho$-useful for some $\rho$ bounded away from zero, but not
#   $\gamma$-robustly useful for any $\gamma \ge 0$: an adversary inside $\Delta(x)$ can turn its
#   correlation with the label to zero or negative.
# - **D_R / D_NR** (§3.1): training sets synthesised so that a robust model's (D_R) or a
#   standard model's (D_NR) penultimate layer matches an original image's, labelled with its
#   true class; D_R keeps mostly robust features, D_NR mostly non-robust ones. The course does
#   not build them (CIFAR-10's are released; `docs/reference.md` §2.6).
#
# In these words, the question of this notebook: the attack moved each image toward $t$ inside
# $\Delta(x)$. By definition it cannot turn a feature that is robustly useful *at that radius*
# against the label, but it can change non-robust ones; and at a radius as large as MNIST's,
# strokes a person sees need not be robust at that radius, so the attack may draw them. A
# D_det student scoring above chance on $y$ must have learned, from images labelled $y + 1$,
# features that natural images of $y + 1$ carry; whether those were non-robust ones the attack
# planted, or visible strokes it drew (leakage), is what notebooks 02 and 04 measure.

# %% [markdown]
# **Predict first.** Before running the next cell, write down how well each student will
# classify the *clean* test set with its *true* labels (chance is 10%). The notebook sets
# your guess beside the measurement, and the paper's CIFAR-10 numbers, afterwards; leaving
# it `None` is fine.

# %%
from errlib import exercises

my_guess_D_rand = None  # your guess: the D_rand student's clean test accuracy, a percentage 0-100
my_guess_D_det = None  # your guess: the D_det student's clean test accuracy, a percentage 0-100

# %%
students = {}
for rule in ("all", "shift"):
    name = RULE_NAMES[rule]
    students[name] = pipeline.get_student(cfg, rule, errset=errsets[name])
    m = students[name].result.metrics
    print(f"{name}: fits its own labels {100 * m['errset_train_acc']:.1f}%, "
          f"clean test accuracy {100 * m['test_acc']:.1f}% (chance {100 * cfg.chance:.0f}%, "
          f"paper CIFAR-10 {100 * reference.ILYAS_CIFAR10[name]:.1f}%)")

# %%
for name, guess in (("D_rand", my_guess_D_rand), ("D_det", my_guess_D_det)):
    exercises.compare_prediction(f"{name} student, clean test accuracy", guess, students[name][1].metrics["test_acc"])

# %%
fig = plotting.training_curves({name: r.metrics["history"] for name, (_, r) in students.items()},
                               chance=cfg.chance)
fig.axes[0].set_title("students trained only on errors")

# %% [markdown]
# ## Reading the curves
# - The dashed lines are accuracy on the students' *own* labels, the errors: how well each
#   student fits what it was taught.
# - The solid lines are accuracy on the **clean test set with the true labels**, which the
#   students never saw. Read them against the dotted chance line: a curve that rises with
#   the dashed one means the student learned something that transfers to clean images; a
#   flat one means it memorised. Each epoch's point is measured on a fixed sample of the
#   test set (every k-th image, `pipeline.CURVE_TEST_IMAGES` of them), enough for the
#   curve's shape at a fraction of the cost; the accuracy printed above uses the whole test
#   set.
#
# For D_det, where could a correct answer come from? Each training 3 looked like a 3 and was
# labelled 4. A student that learned only "shape of 3 → label 4" would score near zero on
# the true labels. A student above chance must have learned something from the images
# labelled 4 that clean 4s carry too. Two candidates: non-robust features of 4 that the
# perturbation planted (Ilyas et al.'s reading), or strokes of a 4 that the perturbation
# drew visibly (leakage). The judge's reading of each set tells how much room the second
# leaves:

# %%
readings = {name: leakage.get_reading(cfg, rule, errset=errsets[name])[1].metrics
            for rule, name in RULE_NAMES.items() if name in errsets}
display(Markdown("\n".join(
    f"- {name}: the robust judge reads **{100 * r['reads_target']:.0f}%** of the error rows as their "
    f"training label and {100 * r['reads_original']:.0f}% as their original class."
    for name, r in readings.items())))

# %% [markdown]
# ## Check and record

# %%
acc = {name: r.metrics["test_acc"] for name, (_, r) in students.items()}
if cfg.profile == "smoke":
    for name, a in acc.items():
        assert a > cfg.chance + 0.05, f"{name} student does not beat chance: {a:.3f}"
report.save_results("03_train_on_errors", cfg, {
    f"{name}_student_clean_test_acc": report.fraction(a, reference=reference.ILYAS_CIFAR10[name],
                                                      source=f"Ilyas Table 1, CIFAR-10 (ours: {cfg.dataset})")
    for name, a in acc.items()})

# %% [markdown]
# ## What it means
# The verdict below is computed from this run. Whatever it says, one run of one seed is not
# yet evidence of non-robust features: a student above chance could have learned the rows
# the judge reads as their label, which teach the target the ordinary way.

# %%
def _verdict(a):
    if a >= 2 * cfg.chance:
        return "at least twice chance: it learned something from its errors that transfers to clean images"
    if a > cfg.chance:
        return "above chance but below twice chance: a weak signal at best, to be read against the seed spread in 04"
    return "at or below chance: nothing it learned transfers to clean images with their true labels"


display(Markdown("\n".join(
    [f"- The {name} student scores **{100 * a:.1f}%** on clean test images (chance {100 * cfg.chance:.0f}%), "
     f"{_verdict(a)}. The judge reads {100 * readings[name]['reads_target']:.0f}% of its error rows as their "
     "training label." for name, a in acc.items()]
    + ["- Where a D_det student is above chance, its answers came from the perturbations, planted features and "
       "drawn strokes alike: this notebook cannot tell the two apart."])))

# %% [markdown]
# **Notebook 04** asks which it was: every student over several seeds, beside the paper and
# chance; for D_det, whether the student answers $y$ or the $y+1$ it was trained to pair
# with each image's appearance; and students trained only on the rows the judge still reads
# as their original class, beside random subsets of the same size.
# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
# Coding exercises: fill in the function and run its cell. `exercises.check` prints
# **PASS**, **FAIL** with a hint, or *not attempted* while the stub still raises
# `NotImplementedError` (the notebook runs to the end either way). Reference solutions are
# kept apart from the notebooks, in `errlib/teach/solutions.py`: try first. Questions: answer in
# your own words, then open the hidden answer. `print(exercises.listing("03"))` lists this
# notebook's exercises.

# %%
from errlib import exercises

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 03.1 (coding): a target rule that never picks the true class
# D_rand draws its target from *all* classes, so about one image in ten keeps its true
# label. Notebook 07's D_other control removes those: write `targets_other(y, num_classes,
# generator)`, a target for each label drawn uniformly from the `num_classes - 1` *other*
# classes (use the `generator` for every random draw, so the rule is reproducible).

# %%
def targets_other(y, num_classes, generator):
    """(N,) int64 -> (N,) int64: uniform over the classes that are not y."""
    # your code here
    raise NotImplementedError


exercises.check("targets_other", targets_other)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 03.2 (question): fitting errors vs generalising <!-- q03_fit_vs_generalise -->
# How well each student fits its own (wrong) training labels is printed above ("fits its own
# labels"). Why is that not the interesting number, and what would it mean if a student could
# *not* fit its error set?
#
# <details><summary>Answer</summary>
#
# A large network can fit any labelling, even random labels, so fitting says nothing about
# what was learned. The interesting number is accuracy on clean test images with their
# *true* labels, which the students never saw. A student that cannot fit its error set is a
# failed training run, not evidence against the effect: public reproductions found students
# (a ResNet-18 at some learning rates) that stalled near chance on D_rand while another
# architecture learned the same data well ([reference §6](../docs/reference.md)). Training
# accuracy on the error set is the first diagnostic to look at.
#
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Recap
# - A student trained only on D_rand or D_det is scored twice: how well it fits its error
#   labels, and, what matters, its score on clean test images with their true labels, set
#   beside chance (this run's verdict is rendered above).
# - In D_det the visible shape of an image points to $y$ while the label says $y + 1$, unless
#   the perturbation drew the target: clean-test accuracy on $y$ then comes from what the
#   perturbation carried, planted non-robust features or drawn robust ones. The robust
#   judge measures how much of the second there is; notebook 04 removes it.
# - The curves show both at once: fitting the errors (dashed) and generalising to clean data
#   (solid).
#
# ### Check your understanding
# **1. If adversarial perturbations were meaningless noise, what would the students score on
# the clean test set?**
#
# <details><summary>Answer</summary>
#
# About chance (10%) for D_rand; for D_det *below* chance on $y$, because a student that
# learned "the shape of a 3 means label 4" would answer $y + 1$ on clean images.
#
# </details>
#
# **2. Why is D_det the sharper test of the two?**
#
# <details><summary>Answer</summary>
#
# Its labels are never the true class and are systematically shifted, so where the shape is
# left intact the robust features actively mislead. Accuracy on the true labels can then only
# come from what the perturbation carried: planted non-robust features, or, where the attack
# drew the target visibly, robust ones (which is why 04 filters those rows out). D_rand's
# targets are uncorrelated with the shape instead, and about a tenth of its labels are simply
# correct.
#
# </details>
#
# **3. Why watch clean test accuracy after every epoch instead of only at the end?**
#
# <details><summary>Answer</summary>
#
# To see whether it rises together with fitting the errors (learning features that transfer)
# or stays flat (memorising), and to catch a run that is still improving when training
# stops.
#
# </details>

