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
# # 01 · The source model: a standard classifier on clean data
#
# *Part I of the errlib course — reproducing Ilyas et al. (2019), "Adversarial Examples Are
# Not Bugs, They Are Features", Section 3.2. Notebooks 01 → 04 form one experiment.*
#
# **The question of Part I.** Take a trained classifier, push every training image a small
# step toward a *wrong* class, and relabel it with that wrong class. To a
# human the new training set is all mislabelled. Can a fresh model trained **only on these
# errors** classify the untouched test set correctly?
#
# **This notebook** builds the first ingredient: the *source model* $C$, a standard
# (non-robust) classifier trained on the clean training set $D$. Every adversarial error in
# notebook 02 is crafted against it.
#
# **What we ask.** How accurate does a small CNN become on the clean test set after a few
# epochs? You will write a guess before the training cell; the measurement, chance and the
# paper's CIFAR-10 number are printed after it. Whether such a model is also easy to *fool*
# is the next notebook's question.
#
# | | |
# |---|---|
# | you will see | the data, the training curve, the clean test accuracy |
# | next | `02_craft_errors.ipynb` |

# %% [markdown] slideshow={"slide_type": "slide"}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/YOUR-ORG/errlib/blob/main/notebooks/01_source_model.ipynb)
#
# **Learning objectives.** After this notebook you can:
# - say what the source model $C$ and the clean training set $D$ are, and why the whole
#   experiment starts from a *standard* (non-robust) model;
# - explain why errlib puts normalisation inside the model, so that an attack radius is
#   measured in plain $[0, 1]$ pixels;
# - read a training curve and a clean test accuracy beside chance and the paper's number.
#
# **Prerequisites.** Python and PyTorch basics (tensors, `nn.Module`, a training loop); what
# a classifier's accuracy is. No adversarial-examples background is needed: this is the
# first notebook.
#
# **Time.** Running it: about a minute on a laptop CPU (default profile), seconds once
# cached; docs/results.md has the recorded run's times. Studying it: about 20 minutes,
# plus 15 for the exercises.
#
# **Sources.** The course's own reference, [`docs/reference.md`](../docs/reference.md) (§1
# headline numbers, §10 glossary); the paper, Ilyas et al. 2019,
# [arXiv:1905.02175](https://arxiv.org/abs/1905.02175); the Distill discussion with its six
# responses and the authors' replies,
# [distill.pub/2019/advex-bugs-discussion](https://distill.pub/2019/advex-bugs-discussion/).

# %% [markdown]
# ## Setup
# `errlib` does the work; this notebook explains it. Pixels are always in $[0, 1]$ and
# normalisation is the model's first layer, so an attack's radius `eps` is measured in
# plain pixel units.

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
from errlib.stages.pipeline import RULE_NAMES

plotting.setup()

# %% [markdown]
# ## Parameters
# One cell, tagged `parameters`, with the same names in every notebook of the course, so
# `papermill -p eps 3.0 ...` means the same everywhere. `None` means "the profile's value";
# the profile comes from `ERRLIB_PROFILE` when papermill does not set it.

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
print(config.describe(cfg, notebook="01_source_model"))

# %% [markdown]
# ## The data
# Images are decoded once into a `uint8` tensor of shape `(N, C, H, W)`; training slices it
# directly (no `DataLoader`).

# %%
X_train, y_train, X_test, y_test = pipeline.load_splits(cfg.dataset)
info = data.dataset_info(cfg.dataset)
print(f"{cfg.dataset}: train {tuple(X_train.shape)} {X_train.dtype}, test {tuple(X_test.shape)}")
print("training images per class:", torch.bincount(y_train, minlength=info.num_classes).tolist())
idx = torch.arange(16) * 97
fig = plotting.image_grid(X_train[idx], [info.classes[int(c)] for c in y_train[idx]],
                          title=f"{cfg.dataset}: a sample of the clean training set D")

# %% [markdown]
# ## Train the source model
# `pipeline.get_source(cfg)` trains the model once and stores it under
# `data/runs/source/<key>/`, where the key is a hash of every setting that affects it. Run
# the cell again and it loads in a second; change `epochs` and it retrains.

# %% [markdown]
# **Predict first.** Before running the next cell, write down how accurate a small CNN
# trained for a few epochs will be on the clean test set. The notebook sets your guess
# beside the measurement afterwards; leaving it `None` is fine.

# %%
from errlib import exercises

my_guess_source_acc = None  # your guess: the source model's clean test accuracy, a percentage 0-100

# %%
model_src, src = pipeline.get_source(cfg)
print(f"source model: {cfg.model}, {sum(p.numel() for p in model_src.parameters()):,} parameters")
print(f"clean test accuracy {100 * src.metrics['test_acc']:.2f}%   (chance {100 * cfg.chance:.0f}%; "
      f"paper's CIFAR-10 ResNet-50: {100 * reference.ILYAS_CIFAR10['D']:.1f}%)")
fig = plotting.training_curves({"source on D": src.metrics["history"]}, chance=cfg.chance)

# %%
exercises.compare_prediction("source model, clean test accuracy", my_guess_source_acc, src.metrics["test_acc"])

# %% [markdown]
# ## Where does it fail?
# Even a good model is wrong on some clean test images. Here are a few, with the model's
# answer. Keep them in mind: notebook 05 trains a student on nothing but a model's mistakes.

# %%
pred = errlib.core.train.predict(model_src, X_test)
wrong = (pred != y_test).nonzero().flatten()[:8]
print(f"{len(pred) - int((pred == y_test).sum())} of {len(pred)} test images misclassified")
if len(wrong):
    fig = plotting.image_grid(X_test[wrong], [f"true {info.classes[int(y_test[i])]}\nsaid {info.classes[int(pred[i])]}"
                                              for i in wrong], title="the source model's mistakes")

# %% [markdown]
# ## Check and record

# %%
acc_src = src.metrics["test_acc"]
if cfg.profile == "smoke":
    assert acc_src > cfg.chance + 0.3, f"source model barely above chance: {acc_src:.3f}"
report.save_results("01_source_model", cfg, {
    "source_clean_test_acc": report.fraction(acc_src, reference=reference.ILYAS_CIFAR10["D"],
                                             source="Ilyas Table 1, CIFAR-10 ResNet-50 (ours: " + cfg.dataset + ")"),
    "chance": report.fraction(cfg.chance)})

# %% [markdown]
# ## What it means
# The source model's clean accuracy is printed above beside chance; notebook 02 needs it only
# to be a good *standard* classifier. Accurate is not the same as *robust*: a standard
# model may rest its decision on small pixel patterns that humans do not notice. Ilyas et al.
# call such patterns **non-robust features**: predictive of the class on natural data, yet
# easy to flip with a small perturbation. Notebook 02 measures how small.
#
# **Next, notebook 02:** an attack looks for exactly such patterns. For every training image
# we pick a target class and nudge the image, within an $L_2$ ball of radius `eps`, until this
# model calls it the target.
# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
# Coding exercises: fill in the function and run its cell. `exercises.check` prints
# **PASS**, **FAIL** with a hint, or *not attempted* while the stub still raises
# `NotImplementedError` (the notebook runs to the end either way). Reference solutions are
# kept apart from the notebooks, in `errlib/teach/solutions.py`: try first. Questions: answer in
# your own words, then open the hidden answer. `print(exercises.listing("01"))` lists this
# notebook's exercises.

# %%
from errlib import exercises

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 01.1 (coding): the Normalize layer
# Every errlib model starts with a `Normalize` layer, so that data, attacks and saved error
# sets all stay in $[0, 1]$ pixels. Write its computation: for `x` of shape `(N, C, H, W)`
# return `(x - mean[c]) / std[c]` for each channel `c` (`mean` and `std` are sequences of
# length `C`).

# %%
def normalize(x, mean, std):
    """(N, C, H, W) -> (N, C, H, W), per-channel (x - mean) / std."""
    # your code here
    raise NotImplementedError


exercises.check("normalize", normalize)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 01.2 (coding): error rate per class
# Which classes does the source model get wrong most often? Write `per_class_error(pred, y,
# num_classes)`: for each true class, the share of its images that are misclassified (a
# tensor of shape `(num_classes,)`). A class with no image in `y` has no error rate: give it
# `nan` (0 of 0 is undefined, not 0%). Once it passes, the cell applies it to the test
# predictions above.

# %%
def per_class_error(pred, y, num_classes):
    """(N,), (N,) int64 -> (num_classes,) float: error rate among each true class."""
    # your code here
    raise NotImplementedError


if exercises.passed("per_class_error", per_class_error):
    for c, e in enumerate(per_class_error(pred, y_test, cfg.num_classes).tolist()):
        print(f"{info.classes[c]:>12}: {100 * e:.2f}% wrong")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 01.3 (question): accurate but not robust <!-- q01_accurate_not_robust -->
# Suppose a model gets nearly every clean test image right (the source model's accuracy is
# printed above). Would that tell you how hard it is to fool with a small perturbation? Why
# could a model be accurate and fragile at once?
#
# <details><summary>Answer</summary>
#
# No. Accuracy is measured on natural images only; it says nothing about images a small
# distance away, which never occur in the test set. A standard model uses every pattern that
# predicts the label, including faint, high-dimensional ones that a small, well-aimed change
# can flip: *non-robust* features. The paper's Figure 2 shows a standard CIFAR-10 model at
# about 95% clean accuracy but only a few percent under an L2 attack of radius 0.25
# ([reference §1](../docs/reference.md)).
#
# </details>

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Recap
# - $D$ is the clean training set with its true labels; the *source model* $C$ is a standard
#   classifier trained on it, and every error of Part I is crafted against it.
# - Pixels stay in $[0, 1]$ and normalisation is the model's first layer, so `eps` is a
#   radius in pixel units.
# - Every stage is cached under a hash of its settings: rerunning is instant, changing a
#   setting recomputes only what depends on it.
# - An accurate model need not be a robust one: the next notebook measures how little change
#   this one needs to answer a class of our choosing.
#
# ### Check your understanding
# **1. Why does errlib normalise inside the model instead of in the data pipeline?**
#
# <details><summary>Answer</summary>
#
# So that everything outside the model (data, attacks, saved error sets) lives in $[0, 1]$
# pixels and an attack radius means the same thing in every notebook. With normalisation in
# the loader, `eps` would be in normalised units and would have to be rescaled by hand, a
# known source of errors.
#
# </details>
#
# **2. What is a *non-robust feature*?**
#
# <details><summary>Answer</summary>
#
# A pattern in the input that predicts the label on natural data but that a small
# perturbation (within the attack's radius) can change. Humans typically do not notice it;
# standard models rely on it.
#
# </details>
#
# **3. The source model's accuracy here differs from the paper's 95.3%. Is that a failed
# reproduction?**
#
# <details><summary>Answer</summary>
#
# No: the paper's number is a ResNet-50 on CIFAR-10; ours is a small CNN on MNIST (or
# Fashion-MNIST). The source only has to be a good standard classifier for the experiment to
# make sense.
#
# </details>

