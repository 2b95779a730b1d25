"""The precision setting: resolution, the bf16 model's float32 boundary, attack and training under bf16.

bf16 autocast runs on any CPU (emulated where the CPU lacks AMX / AVX512-BF16, slowly),
so the bf16 tests run wherever CPU autocast works; they use tiny sizes.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from errlib.core import precision as P
from errlib.core.attacks import pgd
from errlib.core.models import make_model
from errlib.core.train import TrainRecipe, fit
from errlib.stages import config
from errlib.stages.params import check_parameters

pytestmark = pytest.mark.usefixtures("isolated_env")


def _cpu_bf16_autocast_works() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
        return out.dtype == torch.bfloat16
    except RuntimeError:
        return False


needs_bf16 = pytest.mark.skipif(not _cpu_bf16_autocast_works(), reason="CPU bf16 autocast unavailable")


def _digits(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_auto_resolves_by_native_support_and_explicit_values_are_kept():
    cpu = torch.device("cpu")
    assert P.choose("auto", cpu) == ("bf16" if P.native_bf16(cpu) else "fp32")
    assert P.choose("fp32", cpu) == "fp32" and P.choose("bf16", cpu) == "bf16"
    flags = P.cpu_bf16_flags()
    assert P.native_bf16(cpu) == any(flags.values())
    assert P.choose("auto", "mps") == "fp32"  # no native-bf16 path errlib uses there
    assert P.explain("auto", cpu).startswith(P.choose("auto", cpu))


def test_auto_is_fp32_on_a_cpu_without_amx_or_avx512_bf16():
    caps = dict(torch.cpu.get_capabilities())
    if any(caps.get(k) for k in ("amx_bf16", "avx512_bf16", "bf16", "sve_bf16")):
        pytest.skip("this CPU computes bf16 natively")
    assert P.choose("auto", "cpu") == "fp32"
    assert "no native bf16" in P.explain("auto", "cpu")


@pytest.mark.parametrize("bad", ["fp16", "BF16", ""])
def test_bad_precision_is_refused_before_compute(bad):
    with pytest.raises(ValueError, match="precision"):
        P.choose(bad, "cpu")
    with pytest.raises(ValueError, match="unknown precision"):
        config.resolve("smoke", precision=bad)
    with pytest.raises(ValueError, match="parameter 'precision' must be str"):
        check_parameters({"precision": 16}, config.PARAMETERS)


def test_bf16_on_a_device_without_autocast_and_unresolved_model_precision_are_refused():
    with pytest.raises(ValueError, match="bf16"):
        P.choose("bf16", "mps")
    with pytest.raises(ValueError, match="resolved"):
        make_model("cnn", precision="auto")
    with pytest.raises(ValueError, match="resolved"):
        TrainRecipe(arch="cnn", dataset="mnist", precision="auto")
    with pytest.raises(ValueError, match="resolve"):
        P.autocast("auto", "cpu")


def test_config_exposes_the_resolved_precision_and_keys_stages_by_it():
    from errlib.stages.pipeline import source_recipe, student_recipe

    cfg = config.resolve("smoke")
    assert cfg.precision == "auto" and cfg.resolved_precision in ("fp32", "bf16")
    assert "precision" in config.PARAMETERS and "precision" in config.SECTIONS["run"]
    assert "precision: " in config.describe(cfg)
    fp, bf = cfg.replace(precision="fp32"), cfg.replace(precision="bf16")
    assert source_recipe(fp).precision == "fp32" and student_recipe(bf).precision == "bf16"
    assert source_recipe(fp).to_dict() != source_recipe(bf).to_dict()  # a training stage's key differs
    assert source_recipe(bf).make_model().precision == "bf16"


@needs_bf16
def test_bf16_model_runs_its_layers_in_bf16_and_returns_float32_logits():
    x, _ = _digits(8)
    fp = make_model("cnn", seed=0)
    bf = make_model("cnn", seed=0, precision="bf16")
    seen = []
    bf[1].features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = bf(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    ref = fp(x)
    assert not torch.equal(out, ref)  # really another arithmetic ...
    assert torch.allclose(out, ref, atol=0.1, rtol=0.05)  # ... of the same function
    assert list(fp.state_dict()) == list(bf.state_dict())  # stored weights are interchangeable


@needs_bf16
@pytest.mark.parametrize("norm,eps", [("l2", 2.0), ("linf", 0.1)])
def test_pgd_under_bf16_stays_in_the_eps_ball_and_the_box(norm, eps):
    x, y = _digits(32)
    model = make_model("cnn", seed=0, precision="bf16")
    target = (y + 1) % 10
    res = pgd(model, x, target, eps=eps, steps=5, norm=norm, random_start=True, progress=False,
              generator=torch.Generator().manual_seed(0))
    assert res.x_adv.dtype == torch.float32 and res.loss.dtype == torch.float32
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    delta = (res.x_adv - x).flatten(1)
    size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
    assert (size <= eps * (1 + 1e-5)).all()
    assert torch.allclose(size, res.delta_norm)
    assert res.loss.mean() < F.cross_entropy(model(x), target)  # the attack moved toward the target


@needs_bf16
def test_training_under_bf16_reduces_the_loss_and_keeps_float32_weights_and_state():
    x, y = _digits(256, seed=1)
    model = make_model("cnn", seed=0, precision="bf16")
    before = F.cross_entropy(model(x), y).item()
    hist = fit(model, x, y, epochs=3, batch_size=64, lr=3e-3, progress=False)
    after = F.cross_entropy(model(x), y).item()
    assert after < before and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())
