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
# | you will see | clean / adversarial / perturbation triplets, success rates, norms |
# | previous / next | `01_source_model.ipynb` / `03_train_on_errors.ipynb` |

# %% [markdown] slideshow={"slide_type": "slide"}
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/YOUR-ORG/errlib/blob/main/notebooks/02_craft_errors.ipynb)
#
# **Learning objectives.** After this notebook you can:
# - write one step of targeted $L_2$ PGD: a fixed-length step along the normalised gradient,
#   then a projection onto the $\varepsilon$-ball and the $[0, 1]$ box;
# - build D_rand ($t$ uniform over all classes) and D_det ($t = y + 1 \bmod C$) and say what
#   each label means;
# - read an attack's success rate and perturbation norms, and judge how large `eps` is next
#   to an image;
# - state the robust-feature-leakage caveat (Goh) and how the course measures it.
#
# **Prerequisites.** Notebook 01 (the source model; it is rebuilt from the cache if you skip
# it). Gradients with `torch.autograd`; the $L_2$ norm of a tensor.
#
# **Time.** Running it: about 1-2 minutes on a 2-core laptop CPU (default profile), seconds
# once cached. Studying it: about 30 minutes, plus 20 for the exercises.
#
# **Sources.** The course's own reference, [`docs/reference.md`](../docs/reference.md)
# (§2.1-2.3 the construction and the attack, §9 leakage); the paper, Ilyas et al. 2019,
# [arXiv:1905.02175](https://arxiv.org/abs/1905.02175); the Distill discussion with its six
# responses and the authors' replies,
# [distill.pub/2019/advex-bugs-discussion](https://distill.pub/2019/advex-bugs-discussion/).

# %% slideshow={"slide_type": "skip"}
# Colab only: a fresh Colab kernel has no errlib, so fetch the course and install it.
# Anywhere else (your laptop, papermill, CI) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    REPO = "YOUR-ORG/errlib"  # errlib.site.GITHUB_REPO: a placeholder until the course is published (README)
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

# %% [markdown]
# **Predict first.** Before running the next cell, write down how often the attack will
# reach its target $t = y + 1$ within the radius `eps`. The notebook sets your guess beside
# the measurement afterwards; leaving it `None` is fine.

# %%
from errlib import exercises

my_guess_D_det_success = None  # your guess: the share of D_det attacks that reach y+1, a percentage 0-100

# %%
errsets = {}
for rule in ("all", "shift"):
    es, es_res = pipeline.get_errset(cfg, rule, source=(model_src, src))
    errsets[RULE_NAMES[rule]] = es
    s = es.summary()
    print(f"{RULE_NAMES[rule]:7s} {s['n']} images | attack success {100 * s['success_rate']:.1f}% | "
          f"label = true class for {100 * s['label_is_true_class']:.1f}% | mean ||delta|| {s['mean_delta_norm']:.2f}")

# %%
exercises.compare_prediction("D_det attack success", my_guess_D_det_success, errsets["D_det"].success_rate)

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
# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
# Coding exercises: fill in the function and run its cell. `exercises.check` prints
# **PASS**, **FAIL** with a hint, or *not attempted* while the stub still raises
# `NotImplementedError` (the notebook runs to the end either way). Reference solutions are
# kept apart from the notebooks, in `errlib/solutions.py`: try first. Questions: answer in
# your own words, then open the hidden answer. `print(exercises.listing("02"))` lists this
# notebook's exercises.

# %%
from errlib import exercises

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 02.1 (coding): the L2 step
# One PGD step moves each example a fixed distance `step_size` along its own gradient
# direction: $x \leftarrow x + \alpha \, g / \lVert g \rVert_2$, with the norm taken *per
# example*. Write it for `x` and `grad` of shape `(N, C, H, W)`.

# %%
def l2_step(x, grad, step_size):
    """(N, C, H, W) -> (N, C, H, W): each example moves step_size along grad / ||grad||."""
    # your code here
    raise NotImplementedError


exercises.check("l2_step", l2_step)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 02.2 (coding): the L2 projection
# After each step PGD returns to the ball $\lVert x - x_0 \rVert_2 \le \varepsilon$ (scale
# the perturbation by $\min(1, \varepsilon / \lVert x - x_0 \rVert_2)$, per example) and
# then to valid pixels $[0, 1]$. Why is it safe to clamp *after* the radial projection?

# %%
def l2_project(x, x0, eps):
    """(N, C, H, W) -> (N, C, H, W): back into the L2 eps-ball around x0, then into [0, 1]."""
    # your code here
    raise NotImplementedError


exercises.check("l2_project", l2_project)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Exercise 02.3 (coding): how big is eps next to an image?
# The paper's CIFAR-10 radius, 0.5, is a small fraction of a CIFAR image's own $L_2$ norm.
# Write `relative_radius(x, eps)`, returning $\varepsilon / \lVert x \rVert_2$ for each
# image. Once it passes, the cell measures it on this notebook's training images at the
# course's `eps`: compare with the CIFAR-10 figure in [reference §9](../docs/reference.md).

# %%
def relative_radius(x, eps):
    """(N, C, H, W) -> (N,): eps divided by each image's L2 norm."""
    # your code here
    raise NotImplementedError


if exercises.passed("relative_radius", relative_radius):
    r = relative_radius(data.to_float(X_train[:1000]), cfg.eps)
    print(f"eps {cfg.eps:g} / ||x|| over 1,000 training images: median {r.median():.2f}, "
          f"range {r.min():.2f}-{r.max():.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Recap
# - Targeted $L_2$ PGD alternates a fixed-length step toward the target with a projection
#   back into the $\varepsilon$-ball and $[0, 1]$; each image keeps its best iterate.
# - D_rand labels each attacked image with a target drawn from all classes; D_det with $y +
#   1$. The label is always the *target*, never the original class.
# - The success rate and the perturbation norms are printed on every run: a set made of
#   failed attacks would be a different experiment.
# - At MNIST's radius a perturbation can start to draw the target: robust-feature leakage,
#   which the 1-NN reader here and notebook 07's controls measure.
#
# ### Check your understanding
# **1. About what share of D_rand is labelled with its true class, and why?**
#
# <details><summary>Answer</summary>
#
# About one in ten (one in $C$): the target is drawn uniformly from *all* classes, so it
# equals $y$ with probability $1/C$. D_det never is.
#
# </details>
#
# **2. Why is it safe to clamp to $[0, 1]$ after the radial projection?**
#
# <details><summary>Answer</summary>
#
# Clamping moves each pixel toward $x_0$'s valid range and can only shrink the
# perturbation's norm, so the result stays inside the $\varepsilon$-ball.
#
# </details>
#
# **3. Why does MNIST need an `eps` of 3-4 when CIFAR-10 uses 0.5, and what does that
# cost?**
#
# <details><summary>Answer</summary>
#
# MNIST has fewer dimensions (784 vs 3,072) and a simple model with large margins, so a
# targeted attack needs a larger radius to succeed in a few steps. Relative to the image it
# is far larger than CIFAR's, large enough to draw visible strokes of the target:
# robust-feature leakage.
#
# </details>
#
# **4. Why keep each image's best iterate instead of the last one?**
#
# <details><summary>Answer</summary>
#
# PGD's loss does not fall monotonically; the best iterate is the one closest to the target
# by the model's own loss, which is what the error set is meant to hold.
#
# </details>

