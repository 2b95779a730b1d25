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
# **What we expect.** A small CNN reaches about 99% on MNIST and about 89-90% on
# Fashion-MNIST in a few epochs. The paper's CIFAR-10 ResNet-50 scored 95.3%
# (`reference.md`, §1). A standard model like this is accurate *and* easy to fool: that is
# the whole point of the next notebook.
#
# | | |
# |---|---|
# | time | about 1 minute on a laptop CPU (default profile), seconds when cached |
# | you will see | the data, the training curve, the clean test accuracy |
# | next | `02_craft_errors.ipynb` |

# %% [markdown]
# ## Setup
# `errlib` does the work; this notebook explains it. Pixels are always in $[0, 1]$ and
# normalisation is the model's first layer, so an attack's radius `eps` is measured in
# plain pixel units.

# %%
import os
from typing import Optional

import torch

import errlib
from errlib import config, data, pipeline, plotting, reference, report
from errlib.pipeline import RULE_NAMES

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

# %%
model_src, src = pipeline.get_source(cfg)
print(f"source model: {cfg.model}, {sum(p.numel() for p in model_src.parameters()):,} parameters")
print(f"clean test accuracy {100 * src.metrics['test_acc']:.2f}%   (chance {100 * cfg.chance:.0f}%; "
      f"paper's CIFAR-10 ResNet-50: {100 * reference.ILYAS_CIFAR10['D']:.1f}%)")
fig = plotting.training_curves({"source on D": src.metrics["history"]}, chance=cfg.chance)

# %% [markdown]
# ## Where does it fail?
# Even a good model is wrong on some clean test images. Here are a few, with the model's
# answer. Keep them in mind: notebook 05 trains a student on nothing but a model's mistakes.

# %%
pred = errlib.train.predict(model_src, X_test)
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
    "source_clean_test_acc": {"value": acc_src, "reference": reference.ILYAS_CIFAR10["D"],
                              "source": "Ilyas Table 1, CIFAR-10 ResNet-50 (ours: " + cfg.dataset + ")"},
    "chance": cfg.chance})

# %% [markdown]
# ## What it means
# We have an accurate standard classifier. Accurate is not the same as *robust*: its
# decision depends on many small pixel patterns that humans do not notice. Ilyas et al. call
# such patterns **non-robust features**: they are genuinely predictive of the class on
# natural data, yet a small perturbation can flip them.
#
# **Next, notebook 02:** we exploit exactly those features. For every training image we
# pick a target class and nudge the image, within an $L_2$ ball of radius `eps`, until this
# model calls it the target.
