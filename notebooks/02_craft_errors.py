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
# # 02 · Crafting the errors: targeted adversarial examples, D_rand and D_det
#
# *Part I, chapter 2 of 4 — Ilyas et al. (2019), Section 3.2, the `GetNonRobustDataset`
# construction.*
#
# **Question.** How little must an image change before the source model calls it a class
# of *our* choosing? And what does a training set made only of such changed images, each
# labelled with the chosen class, look like?
#
# **The construction** (`reference.md`, §2.1). For every training pair $(x, y)$:
# 1. pick a target class $t$:
#    - **D_rand**: $t$ uniform over all $C$ classes (so $t = y$ one time in $C$, as in the paper);
#    - **D_det**: $t = (y + 1) \bmod C$, deterministic and always wrong;
# 2. find $x_{adv}$ with $\lVert x_{adv} - x \rVert_2 \le \varepsilon$ that minimises the
#    source model's cross-entropy toward $t$, by targeted $L_2$ PGD;
# 3. store $(x_{adv}, t)$. **The label is the target, not $y$.**
#
# **What we expect.** With `eps` large enough the attack reaches its target for nearly
# every image, while the images still look like their *original* class to us. The paper
# used $\varepsilon = 0.5$ on CIFAR-10's 3,072 dimensions; MNIST's strokes need about
# $\varepsilon = 3$–$4$ for high targeted success in 20 steps (`reference.md`, §7).
#
# | | |
# |---|---|
# | time | about 2-3 minutes on a laptop CPU (default), seconds when cached |
# | you will see | clean / adversarial / perturbation triplets, success rates, norms |
# | previous / next | `01_source_model.ipynb` / `03_train_on_errors.ipynb` |

# %%
import os
from typing import Optional

import torch

import errlib
from errlib import config, data, pipeline, plotting, reference, report
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
# ## The source model
# Loaded from the cache (or trained now, if notebook 01 has not run).

# %%
model_src, src = pipeline.get_source(cfg)
info = data.dataset_info(cfg.dataset)
print(f"source model clean test accuracy: {100 * src.metrics['test_acc']:.2f}%")

# %% [markdown]
# ## One attack, step by step
# PGD repeats: take a fixed-length step along the normalised gradient of the loss toward
# $t$, then project back onto the $\varepsilon$-ball around $x$ and into $[0, 1]$. Each
# image keeps its best iterate (lowest loss toward $t$). The model is in eval mode and its
# weights are frozen during the attack.

# %%
X_train, y_train, X_test, y_test = pipeline.load_splits(cfg.dataset)
x8 = data.to_float(X_train[:8])
t8 = errlib.errsets.make_targets(y_train[:8], "shift", cfg.num_classes)
res = errlib.attacks.pgd(model_src, x8, t8, eps=cfg.eps, steps=cfg.steps,
                         step_size=cfg.resolved_step_size, progress=False)
print(f"targets reached: {int(res.success.sum())}/8; perturbation norms: "
      + ", ".join(f"{v:.2f}" for v in res.delta_norm.tolist()))
fig = plotting.adversarial_triplets(x8, res.x_adv, y_train[:8], t8, res.pred, info.classes, n=4)

# %% [markdown]
# ## Build D_rand and D_det
# `pipeline.get_errset(cfg, rule)` attacks `n_attack` training images (the same seeded
# subset for both rules) and stores the result with a success mask, the source model's
# prediction and the perturbation norm for every image. It keeps failed attacks too, as the
# paper appears to do; notebook 03's `keep` parameter can drop them.

# %%
errsets = {}
for rule in ("all", "shift"):
    es, es_res = pipeline.get_errset(cfg, rule, source=(model_src, src))
    errsets[RULE_NAMES[rule]] = es
    s = es.summary()
    print(f"{RULE_NAMES[rule]:7s} {s['n']} images | attack success {100 * s['success_rate']:.1f}% | "
          f"label = true class for {100 * s['label_is_true_class']:.1f}% | mean ||delta|| {s['mean_delta_norm']:.2f}")

# %%
fig = plotting.attack_summary(errsets, eps=cfg.eps)

# %% [markdown]
# ## What the new training sets look like
# Below: D_det images with the labels a student will be trained on. To us, nearly every
# label is wrong. Look closely at the perturbations above, though: at MNIST's radius
# (eps 4 of a typical digit norm of about 9) some of them start to trace strokes of the
# target. That is *robust* feature leakage (Goh, `reference.md` §4), the caveat this
# course measures rather than hides: the 1-NN check below and notebook 07's eps sweep
# and D_other control test how much of the effect it explains.

# %%
D_det = errsets["D_det"]
fig = plotting.image_grid(D_det.x[:16], [f"label {info.classes[int(t)]}\n(was {info.classes[int(y)]})"
                                         for t, y in zip(D_det.y[:16], D_det.y_true[:16])],
                          title="D_det: every label is the 'next' class")

# %%
D_rand = errsets["D_rand"]
X_clean = data.to_float(pipeline.attacked_images(cfg)[0])  # the clean originals, same order
ok = (D_rand.success & (D_rand.y != D_rand.y_true)).nonzero().flatten()[:4]
fig = plotting.adversarial_triplets(X_clean[ok], D_rand.x[ok], D_rand.y_true[ok], D_rand.y[ok],
                                    D_rand.source_pred[ok], info.classes, n=4)

# %% [markdown]
# ## Do the images still look like their original class?
# The source model now reads most adversarial images as their target. A model-free reader
# stands in for our eyes: a 1-nearest-neighbour classifier that compares each image pixel by
# pixel with clean test images (labelled correctly). If the perturbation drew the target
# class into the image, the neighbours would say $t$; if it is a faint, non-robust pattern,
# they still say $y$.

# %%
n_probe = min(1000, len(D_det))
ref_X, ref_y = data.to_float(X_test).flatten(1), y_test
reads_true = {}
for name, es in errsets.items():
    reads = ref_y[torch.cdist(es.x[:n_probe].flatten(1), ref_X).argmin(1)]
    reads_true[name] = (reads == es.y_true[:n_probe]).float().mean().item()
    print(f"{name}: 1-NN reads the original class y for {100 * reads_true[name]:.1f}% "
          f"and the training label t for {100 * (reads == es.y[:n_probe]).float().mean():.1f}% "
          f"of {n_probe} images")

# %% [markdown]
# ## Check and record

# %%
if cfg.profile == "smoke":
    for name, es in errsets.items():
        assert es.success_rate > 0.5, f"{name}: attack success only {es.success_rate:.2f}"
        assert (es.delta_norm <= cfg.eps + 1e-4).all(), "a perturbation left the eps-ball"
    assert (D_det.y == (D_det.y_true + 1) % cfg.num_classes).all()
report.save_results("02_craft_errors", cfg, {
    "D_rand_attack_success": D_rand.success_rate, "D_det_attack_success": D_det.success_rate,
    "D_rand_label_is_true_class": D_rand.label_agrees_with_truth,
    "mean_perturbation_norm": D_rand.delta_norm.mean().item(),
    "D_det_1nn_reads_true_class": reads_true["D_det"],
    "images_per_error_set": len(D_rand)})

# %% [markdown]
# ## What it means
# We now hold two training sets in which (almost) every label is an error by human
# standards. In D_det the mapping is systematic: every 3 is labelled 4, every 4 is
# labelled 5. The only thing linking an image to its new label is the small perturbation,
# which the source model reads as evidence for the target.
#
# Ilyas et al.'s claim: the perturbation *plants the target's non-robust features*. If those
# features are real, i.e. they are how the target class looks to a standard model on natural
# data too, then a model trained on these errors can learn them and apply them to clean
# images. **Notebook 03** trains such models.
