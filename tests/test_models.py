"""errlib.core.models: every registered model maps [0, 1] images to logits and normalises first."""
from __future__ import annotations

import pytest
import torch

from errlib.core.data import dataset_info
from errlib.core.models import MODELS, Normalize, make_model

pytestmark = pytest.mark.usefixtures("isolated_env")

CASES = [("cnn", "mnist", 4), ("cnn_wide", "mnist", 4), ("mlp", "mnist", 4), ("resnet18", "cifar10", 2)]


def test_every_registered_model_is_covered():
    assert sorted(MODELS) == sorted(name for name, _, _ in CASES)


@pytest.mark.parametrize("name, dataset, n", CASES, ids=[c[0] for c in CASES])
def test_model_maps_images_to_logits_and_normalises_first(name, dataset, n):
    info = dataset_info(dataset)
    model = make_model(name, dataset, seed=0).eval()
    first = next(iter(model.children()))
    assert isinstance(first, Normalize)
    assert torch.allclose(first.mean.flatten(), torch.tensor(info.mean))
    assert torch.allclose(first.std.flatten(), torch.tensor(info.std))
    x = torch.rand(n, *info.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
    assert out.shape == (n, info.num_classes) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_normalize_is_per_channel_affine():
    norm = Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    x = torch.rand(2, 3, 4, 4)
    expected = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), expected)
    assert set(dict(norm.named_buffers())) == {"mean", "std"}  # saved in the state_dict


def test_make_model_seed_and_custom_statistics():
    a, b = make_model("mlp", "mnist", seed=3), make_model("mlp", "mnist", seed=3)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not torch.equal(make_model("mlp", "mnist", seed=4)[1][1].weight, a[1][1].weight)
    fm = dataset_info("fashion_mnist")
    m = make_model("cnn", "mnist", mean=fm.mean, std=fm.std)
    assert torch.allclose(m[0].mean.flatten(), torch.tensor(fm.mean))


def test_unknown_model_names_value_and_allowed():
    with pytest.raises(ValueError) as exc:
        make_model("vit", "mnist")
    msg = str(exc.value)
    assert "'vit'" in msg
    for name in MODELS:
        assert name in msg


@pytest.mark.parametrize("name", ["cnn", "resnet18"])
def test_seeded_make_model_leaves_the_global_generator_alone_and_draws_torchs_default_ranges(name):
    dataset = "cifar10" if name == "resnet18" else "mnist"
    state = torch.get_rng_state()
    m = make_model(name, dataset, seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    for layer in m.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = layer.weight[0].numel()
            assert layer.weight.abs().max() <= fan_in ** -0.5 + 1e-6  # kaiming_uniform(a=sqrt(5))
            assert layer.weight.abs().max() > 0.5 * fan_in ** -0.5
    unseeded = make_model("mlp", "mnist"), make_model("mlp", "mnist")
    assert not torch.equal(unseeded[0][1][1].weight, unseeded[1][1][1].weight)
