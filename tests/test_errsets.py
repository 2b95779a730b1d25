"""errlib.stages.errsets: target rules, the error-set builders and ErrorSet itself."""
from __future__ import annotations

import pytest
import torch

from errlib.stages.errsets import (ErrorSet, adversarial_set, make_targets, random_label_set,
                            relabel_set, wrong_label_set)
from helpers import tiny_images, tiny_labels, tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")

C = 10
# 0.999 quantiles of the chi-square distribution (scipy is not a dependency):
CHI2_999 = {8: 26.124, 9: 27.877}


def _chi2_uniform(values: torch.Tensor, k: int, offset: int = 0) -> float:
    counts = torch.bincount(values - offset, minlength=k)[:k].double()
    assert counts.sum().item() == len(values), "values outside the expected range"
    expected = len(values) / k
    return (((counts - expected) ** 2) / expected).sum().item()


def test_shift_rule_is_next_class_mod_c():
    y = torch.arange(C).repeat(3)
    t = make_targets(y, "shift", C)
    assert torch.equal(t, (y + 1) % C)
    assert t.dtype == torch.int64
    assert torch.equal(make_targets(torch.tensor([0, 1, 2]), "shift", 3), torch.tensor([1, 2, 0]))


def test_all_rule_is_uniform_and_hits_the_true_class_one_time_in_c():
    y = tiny_labels(20000, C, seed=5)
    t = make_targets(y, "all", C, seed=0)
    assert t.shape == y.shape and t.dtype == torch.int64
    assert _chi2_uniform(t, C) < CHI2_999[C - 1]
    hit = (t == y).float().mean().item()
    assert abs(hit - 1 / C) < 0.01, f"t == y in {hit:.3f} of draws, expected about {1 / C}"


def test_other_rule_never_returns_true_class_and_is_uniform_over_the_rest():
    y = tiny_labels(20000, C, seed=6)
    t = make_targets(y, "other", C, seed=0)
    assert t.shape == y.shape and t.dtype == torch.int64
    assert not (t == y).any()
    offset = (t - y) % C  # uniform over 1..C-1 when t is uniform over the other classes
    assert _chi2_uniform(offset, C - 1, offset=1) < CHI2_999[C - 2]
    # Conditional on one true class: uniform over the nine other classes.
    y3 = torch.full((9000,), 3)
    t3 = make_targets(y3, "other", C, seed=1)
    counts = torch.bincount(t3, minlength=C)
    assert counts[3] == 0
    others = t3 - (t3 > 3).long()  # map {0..9}\{3} onto 0..8
    assert _chi2_uniform(others, C - 1) < CHI2_999[C - 2]


@pytest.mark.parametrize("rule", ["all", "other", "shift"])
def test_make_targets_is_seeded(rule):
    y = tiny_labels(500, C)
    assert torch.equal(make_targets(y, rule, C, seed=3), make_targets(y, rule, C, seed=3))
    if rule != "shift":
        assert not torch.equal(make_targets(y, rule, C, seed=3), make_targets(y, rule, C, seed=4))


def test_unknown_rule_names_the_allowed_rules():
    with pytest.raises(ValueError) as exc:
        make_targets(torch.zeros(3, dtype=torch.long), "bogus", C)
    msg = str(exc.value)
    assert "'bogus'" in msg
    for rule in ("all", "other", "shift"):
        assert rule in msg


@pytest.mark.parametrize("rule", ["shift", "other", "all"])
def test_adversarial_set_labels_with_targets_and_keeps_true_labels(rule):
    model = tiny_model()
    x = tiny_images(48)
    y = tiny_labels(48)
    es = adversarial_set(model, x, y, rule=rule, eps=10.0, steps=20, seed=7, progress=False)
    assert isinstance(es, ErrorSet) and len(es) == 48
    assert torch.equal(es.y, make_targets(y, rule, C, seed=7))
    assert torch.equal(es.y_true, y)
    if rule == "shift":
        assert torch.equal(es.y, (y + 1) % C)
    if rule == "other":
        assert not (es.y == es.y_true).any()
    with torch.no_grad():
        pred = model(es.x).argmax(1)
    assert torch.equal(es.source_pred, pred)
    assert torch.equal(es.success, pred == es.y)
    assert es.success_rate >= 0.95
    assert torch.allclose(es.delta_norm, (es.x - x).flatten(1).norm(dim=1), atol=1e-5)
    assert es.delta_norm.dtype == torch.float32
    assert es.x.min() >= 0 and es.x.max() <= 1


def _teacher_and_labels(n=40):
    teacher = tiny_model(seed=3)
    x = tiny_images(n, seed=9)
    with torch.no_grad():
        pred = teacher(x).argmax(1)
    y = pred.clone()
    wrong = torch.arange(n) % 3 == 0  # the teacher gets every third image wrong
    y[wrong] = (pred[wrong] + 1) % C
    return teacher, x, y, pred, wrong


def test_wrong_label_set_keeps_only_the_teachers_errors():
    teacher, x, y, pred, wrong = _teacher_and_labels()
    es = wrong_label_set(teacher, x, y)
    assert len(es) == int(wrong.sum()) > 0
    assert torch.equal(es.x, x[wrong])
    assert torch.equal(es.y, pred[wrong])  # labelled with the teacher's wrong prediction
    assert torch.equal(es.y_true, y[wrong])
    assert not (es.y == es.y_true).any()
    assert torch.equal(es.source_pred, pred[wrong])
    assert es.success.all() and (es.delta_norm == 0).all()


def test_wrong_label_set_accepts_uint8_images():
    teacher, x, y, pred, wrong = _teacher_and_labels()
    x8 = (x * 255).round().to(torch.uint8)
    es = wrong_label_set(teacher, x8, y)
    assert es.x.dtype == torch.float32 and es.x.max() <= 1
    with torch.no_grad():
        p8 = teacher(x8.float() / 255).argmax(1)
    assert torch.equal(es.y, p8[p8 != y])


def test_relabel_set_uses_the_teachers_predictions():
    teacher, x, _, pred, _ = _teacher_and_labels()
    y_own = tiny_labels(len(x), seed=11)  # labels from "another dataset"
    es = relabel_set(teacher, x, y_own)
    assert len(es) == len(x)
    assert torch.equal(es.y, pred) and torch.equal(es.source_pred, pred)
    assert torch.equal(es.y_true, y_own)
    assert torch.equal(es.x, x)
    assert es.success.all() and (es.delta_norm == 0).all()


def test_random_label_set_follows_the_rule():
    x, y = tiny_images(30), tiny_labels(30)
    es = random_label_set(x, y, rule="shift")
    assert torch.equal(es.y, (y + 1) % C) and torch.equal(es.y_true, y)
    assert torch.equal(es.success, es.y != es.y_true)


def _toy_set(n=10):
    x = tiny_images(n)
    return ErrorSet(x=x, y=torch.arange(n) % C, y_true=torch.zeros(n, dtype=torch.long),
                    source_pred=torch.arange(n) % C, success=torch.arange(n) % 2 == 0,
                    delta_norm=torch.linspace(0, 1, n))


def test_errorset_indexing_by_mask_selects_every_field():
    es = _toy_set()
    sub = es[es.success]
    assert len(sub) == 5
    idx = torch.nonzero(es.success).squeeze(1)
    for name, value in sub.to_dict().items():
        assert torch.equal(value, getattr(es, name)[idx]), name
    assert sub.success.all()
    assert len(es[2:5]) == 3 and torch.equal(es[2:5].y, es.y[2:5])


def test_errorset_rejects_fields_of_different_length():
    es = _toy_set()
    d = es.to_dict()
    d["y"] = d["y"][:-1]
    with pytest.raises(ValueError, match="y"):
        ErrorSet(**d)


def test_errorset_dict_round_trip():
    es = _toy_set()
    back = ErrorSet.from_dict(es.to_dict())
    for name, value in es.to_dict().items():
        assert torch.equal(getattr(back, name), value)


def test_quantized_rounds_to_multiples_of_1_over_255():
    es = _toy_set()
    x_before = es.x.clone()
    q = es.quantized()
    levels = q.x * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert (q.x - es.x).abs().max().item() <= 0.5 / 255 + 1e-6
    assert torch.equal(es.x, x_before), "quantized() must not modify the original"
    assert not torch.equal(q.x, es.x)
    for name in ("y", "y_true", "source_pred", "success", "delta_norm"):
        assert torch.equal(getattr(q, name), getattr(es, name))


def test_random_labels_with_the_targets_seed_are_the_prefix_of_the_targets():
    """The random-label control (errlib.stages.controls) relies on this: its first n labels are D_rand's."""
    y = tiny_labels(500)
    assert torch.equal(random_label_set(tiny_images(40), y[:40], rule="all", seed=11).y,
                       make_targets(y, "all", C, seed=11)[:40])
