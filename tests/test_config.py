"""errlib.stages.config.resolve: profiles, overrides and validation."""
from __future__ import annotations

import pytest

import dataclasses

from errlib.stages.config import PARTS, SECTIONS, Config, PROFILES, describe, resolve

pytestmark = pytest.mark.usefixtures("isolated_env")


def test_smoke_profile_with_overrides():
    cfg = resolve("smoke", n_train=1000, epochs=1, n_attack=200, steps=3, student_epochs=1)
    assert isinstance(cfg, Config)
    assert (cfg.profile, cfg.dataset) == ("smoke", "mnist")
    assert (cfg.n_train, cfg.epochs, cfg.n_attack, cfg.steps, cfg.student_epochs) == (1000, 1, 200, 3, 1)
    assert cfg.resolved_step_size == pytest.approx(2.5 * cfg.eps / 3)
    assert cfg.num_classes == 10 and cfg.chance == pytest.approx(0.1)


def test_none_overrides_mean_profile_value():
    assert resolve("smoke", eps=None, steps=None) == resolve("smoke")


def test_profile_from_env(monkeypatch):
    monkeypatch.setenv("ERRLIB_PROFILE", "smoke")
    assert resolve().profile == "smoke"
    monkeypatch.delenv("ERRLIB_PROFILE")
    assert resolve().profile == "default"


def test_dataset_alias_and_per_dataset_values():
    cfg = resolve("default", dataset="fmnist")
    assert cfg.dataset == "fashion_mnist"
    c10 = resolve("smoke", dataset="cifar10")
    assert c10.model == "resnet18" and c10.num_classes == 10
    assert resolve("full").dataset == "cifar10"


@pytest.mark.parametrize("eps, shown", [(0, "got 0"), (-1.0, "got -1.0")])
def test_resolve_rejects_non_positive_eps(eps, shown):
    with pytest.raises(ValueError, match="eps") as exc:
        resolve("smoke", eps=eps)
    assert shown in str(exc.value)


@pytest.mark.parametrize("steps, shown", [(0, "got 0"), (-3, "got -3")])
def test_resolve_rejects_steps_below_one(steps, shown):
    with pytest.raises(ValueError, match="steps") as exc:
        resolve("smoke", steps=steps)
    assert shown in str(exc.value)


def test_resolve_rejects_unknown_profile():
    with pytest.raises(ValueError) as exc:
        resolve("turbo")
    msg = str(exc.value)
    assert "'turbo'" in msg
    for p in PROFILES:
        assert p in msg


@pytest.mark.parametrize("overrides, shown", [
    (dict(dataset="svhn"), "'svhn'"),
    (dict(model="vit"), "'vit'"),
    (dict(student_model="vit"), "'vit'"),
    (dict(n_attack=0), "got 0"),
    (dict(student_epochs=0), "got 0"),
    (dict(keep="some"), "'some'"),
    (dict(norm="l1"), "'l1'"),
    (dict(learning_rate=0.1), "learning_rate"),
])
def test_resolve_rejects_bad_settings(overrides, shown):
    with pytest.raises(ValueError) as exc:
        resolve("smoke", **overrides)
    assert shown in str(exc.value)


def test_replace_validates():
    cfg = resolve("smoke")
    assert cfg.replace(eps=1.5).eps == 1.5
    with pytest.raises(ValueError, match="got -2"):
        cfg.replace(eps=-2)


def test_every_setting_is_in_exactly_one_section_and_describe_shows_only_its_parts_knobs():
    names = [n for fields in SECTIONS.values() for n in fields]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(Config))
    assert len(names) == len(set(names))
    assert {s for part in PARTS.values() for s in part} | {"run"} == set(SECTIONS)
    cfg = resolve("smoke")
    part1, wallace, controls = (describe(cfg, p) for p in ("part1", "wallace", "controls"))
    assert "weak teacher" not in part1 and "controls" not in part1 and "attack" in part1
    assert "attack" not in wallace and "PGD" not in wallace and "2-D toy" in wallace
    assert "controls" in controls and "transfer" in controls
    with pytest.raises(ValueError, match="part"):
        describe(cfg, "part3")


def test_the_step_size_follows_eps_and_steps_unless_set():
    cfg = resolve("default", eps=2.0, steps=10)
    assert cfg.resolved_step_size == pytest.approx(0.5)  # 2.5 * eps / steps (Madry et al.)
    assert cfg.replace(steps=20).resolved_step_size == pytest.approx(0.25)
    assert resolve("default", eps=2.0, steps=10, step_size=0.1).resolved_step_size == 0.1
