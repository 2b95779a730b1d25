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

# %% [markdown]
# # 03 · Training on errors alone
#
# *Part I, chapter 3 of 4 — Ilyas et al. (2019), Section 3.2, step 5 of the construction.*
#
# **Question.** A fresh model, never shown a single correctly labelled clean image, is
# trained only on D_rand or only on D_det. What does it learn?
#
# **What we expect.** It will fit its training set: a network can memorise anything. The
# surprise, if it comes, is on the *clean test set*, which we watch after every epoch:
# - If adversarial perturbations were meaningless noise ("bugs"), the students would
#   memorise noise and score chance (10%) on clean images, or for D_det, predict the
#   "wrong" shifted class that the robust shape of the digit was paired with.
# - If the perturbations plant the target's real, predictive non-robust features, the
#   students learn those features and score far **above** chance on clean images, with
#   their true labels. The paper (CIFAR-10): 63.3% from D_rand, 43.7% from D_det.
#
# D_det is the sharper test. Every training image still *looks* like class $y$, and its
# robust features say $y$, but it is labelled $y+1$. Only non-robust features agree with the
# label, *if* the perturbation left the robust features alone. Notebook 02's robust judge
# checks that "if": it reads part of D_det as its target. So clean-test accuracy above
# chance on D_det comes from non-robust features only for the rows the judge still reads as
# $y$; notebook 04 trains students on those rows alone.
#
# | | |
# |---|---|
# | time | about 2 minutes on a laptop CPU (default), seconds when cached |
# | you will see | training curves: fitting the errors vs accuracy on clean test images |
# | previous / next | `02_craft_errors.ipynb` / `04_measure.ipynb` |

# %%
import os
from typing import Optional

import torch

import errlib
from errlib import config, data, leakage, pipeline, plotting, reference, report
from IPython.display import Markdown, display
from errlib.pipeline import RULE_NAMES

plotting.setup()

# %% tags=["parameters"]
profile: str = os.environ.get("ERRLIB_PROFILE", "default")  # smoke | default | full (CPU, laptop CPU, GPU)
dataset: Optional[str] = None  # mnist | fashion_mnist | cifar10 (None: the profile's)
seed: int = 0  # seed for subsets, attack targets and initial weights
device: Optional[str] = None  # cpu | cuda | mps (None: best available)
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
print(config.describe(cfg))

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
fig = plotting.training_curves({name: r.metrics["history"] for name, (_, r) in students.items()},
                               chance=cfg.chance)
fig.axes[0].set_title("students trained only on errors")

# %% [markdown]
# ## Reading the curves
# - The dashed lines are accuracy on the students' *own* labels, the errors. They climb to
#   nearly 100%: the students fit the errors.
# - The solid lines are accuracy on the **clean test set with the true labels**. The
#   students never saw a correct label of that kind, yet they rise well above the dotted
#   chance line.
#
# For D_det, where could a correct answer come from? Each training 3 looked like a 3 and was
# labelled 4. A student that learned "shape of 3 → label 4" would score near zero on the
# true labels. Instead it learned features of 4 from images labelled 4, and clean 4s carry
# them too. Which features? Non-robust ones, by Ilyas et al.'s reading; but where the
# perturbation drew a visible 4, robust ones as well:

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
    f"{name}_student_clean_test_acc": {"value": a, "reference": reference.ILYAS_CIFAR10[name],
                                       "source": f"Ilyas Table 1, CIFAR-10 (ours: {cfg.dataset})"}
    for name, a in acc.items()})

# %% [markdown]
# ## What it means
# Training on nothing but errors produced models that generalise to clean data. The
# information that made this possible was in the perturbations: they are not random noise
# but the source model's features for the target class, and those features are predictive
# on natural images too.
#
# **Notebook 04** measures this carefully: accuracy beside the paper's and chance, and,
# for D_det, whether the student predicts $y$ or the $y+1$ it was trained to associate with
# each image's appearance.
