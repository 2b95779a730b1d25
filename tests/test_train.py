"""errlib.core.train: fit / evaluate / predict on tiny synthetic problems, devices, determinism."""
from __future__ import annotations

import pytest
import torch

from errlib.core.train import adam_kernel, evaluate, fit, pick_device, predict
from helpers import tiny_images, tiny_model

pytestmark = pytest.mark.usefixtures("isolated_env")

K = 4  # classes of the synthetic problem


def separable(n=256, seed=0):
    """Class k lights up quadrant k of an 8x8 image: linearly separable with a wide margin."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    X = 0.2 * torch.rand(n, 1, 8, 8, generator=g)
    for k in range(K):
        r, c = divmod(k, 2)
        X[y == k, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 0.7
    perm = torch.randperm(n, generator=g)
    return X[perm], y[perm]


def test_fit_learns_a_separable_problem_and_reports_per_epoch_metrics():
    X, y = separable(256, seed=0)
    Xt, yt = separable(64, seed=1)
    model = tiny_model(num_classes=K)
    assert evaluate(model, Xt, yt) < 0.9  # not solved before training
    hist = fit(model, X, y, epochs=3, batch_size=32, lr=0.05, X_test=Xt, y_test=yt,
               device="cpu", progress=False)
    assert len(hist) == 3
    for i, row in enumerate(hist, 1):
        assert set(row) == {"epoch", "train_loss", "train_acc", "test_acc", "seconds"}
        assert row["epoch"] == i and row["seconds"] >= 0
        assert 0.0 <= row["train_acc"] <= 1.0 and row["train_loss"] >= 0
    assert hist[-1]["train_acc"] >= 0.95
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["test_acc"] >= 0.95
    assert hist[-1]["test_acc"] == pytest.approx(evaluate(model, Xt, yt))
    assert evaluate(model, X, y) >= 0.95
    assert not model.training  # fit leaves the model in eval mode


def test_fit_without_test_set_has_no_test_acc_and_accepts_uint8():
    X, y = separable(128)
    X8 = (X * 255).round().to(torch.uint8)
    hist = fit(tiny_model(num_classes=K), X8, y, epochs=2, batch_size=32, lr=0.05,
               device="cpu", progress=False)
    assert [set(r) for r in hist] == [{"epoch", "train_loss", "train_acc", "seconds"}] * 2
    assert hist[-1]["train_acc"] >= 0.9


@pytest.mark.parametrize("optimizer, schedule", [("adam", "constant"), ("sgd", "onecycle")])
def test_fit_is_deterministic_for_a_seed(optimizer, schedule):
    X, y = separable(96)

    def run(seed):
        model = tiny_model(num_classes=K, seed=0)
        hist = fit(model, X, y, epochs=2, batch_size=16, lr=0.05, optimizer=optimizer,
                   schedule=schedule, seed=seed, device="cpu", progress=False)
        return model.state_dict(), hist

    (a, ha), (b, hb), (c, _) = run(7), run(7), run(8)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
    assert any(not torch.equal(a[k], c[k]) for k in a), "the seed should change the batch order"


@pytest.mark.parametrize("n, batch_size, epochs", [(10, 128, 1), (16, 8, 1), (5, 5, 2)])
def test_onecycle_schedule_handles_few_steps(n, batch_size, epochs):
    """One optimiser step in total (a tiny set, one epoch) must not crash the schedule."""
    X, y = separable(n)
    hist = fit(tiny_model(num_classes=K), X, y, epochs=epochs, batch_size=batch_size,
               schedule="onecycle", device="cpu", progress=False)
    assert len(hist) == epochs


def test_predict_restores_training_mode():
    model = tiny_model(num_classes=K)
    model.train()
    X, _ = separable(20)
    pred = predict(model, X, batch_size=7)
    assert pred.shape == (20,) and pred.dtype == torch.int64
    assert model.training
    with torch.no_grad():
        assert torch.equal(pred, model(X).argmax(1))


def test_pick_device_explicit_and_env(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("ERRLIB_DEVICE", "meta")  # any valid device name that is not the default
    assert pick_device() == torch.device("meta")
    assert pick_device("cpu") == torch.device("cpu"), "an explicit device beats the env var"
    monkeypatch.setenv("ERRLIB_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.delenv("ERRLIB_DEVICE")
    assert pick_device().type in ("cpu", "cuda", "mps")


# ---- bad input -------------------------------------------------------------------------

def test_fit_and_evaluate_reject_empty_sets():
    X0, y0 = torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)
    with pytest.raises(ValueError, match="empty"):
        fit(tiny_model(), X0, y0, progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(tiny_model(), X0, y0)


@pytest.mark.parametrize("bad, shown", [(1.5, "1.5"), (-0.1, "-0.1")])
def test_fit_and_evaluate_reject_pixels_outside_unit_interval(bad, shown):
    X = tiny_images(8)
    X[3, 0, 0, 0] = bad
    y = torch.zeros(8, dtype=torch.long)
    for call in (lambda: fit(tiny_model(), X, y, device="cpu", progress=False),
                 lambda: evaluate(tiny_model(), X, y)):
        with pytest.raises(ValueError, match=r"\[0, 1\]") as exc:
            call()
        assert shown in str(exc.value)


@pytest.mark.parametrize("kwargs, shown", [(dict(epochs=0), "got 0"),
                                           (dict(optimizer="rmsprop"), "'rmsprop'"),
                                           (dict(schedule="cosine"), "'cosine'")])
def test_fit_rejects_bad_options(kwargs, shown):
    X, y = separable(8)
    with pytest.raises(ValueError) as exc:
        fit(tiny_model(num_classes=K), X, y, device="cpu", progress=False, **kwargs)
    assert shown in str(exc.value)


def test_fit_rejects_length_mismatch():
    with pytest.raises(ValueError, match="8 images but 7 labels"):
        fit(tiny_model(), tiny_images(8), torch.zeros(7, dtype=torch.long), progress=False)


def test_errlib_threads_sets_the_count_of_every_entry_point_and_restores_it(monkeypatch):
    import threading

    from errlib.core.attacks import pgd

    monkeypatch.setenv("ERRLIB_DEVICE", "cpu")  # threads are the CPU's, also on a GPU machine
    before = torch.get_num_threads()
    X, y = separable(32)
    here = threading.current_thread().name
    for want in (1, 2):
        monkeypatch.setenv("ERRLIB_THREADS", str(want))
        seen = set()
        model = tiny_model(num_classes=K)
        model.register_forward_hook(lambda *_: seen.add((threading.current_thread().name,
                                                          torch.get_num_threads())))
        fit(model, X, y, epochs=1, batch_size=16, progress=False)
        predict(model, X)
        pgd(model, X, (y + 1) % K, eps=1.0, steps=2, progress=False)
        assert seen == {(here, want)}, "one thread count, in the caller's thread: no batch split"
        assert torch.get_num_threads() == before


def _train_with(monkeypatch, optimizer, cls, **impl):
    """fit's weights after 3 epochs on tiny data, with torch.optim.<cls> forced to ``impl``;
    also the implementation keywords fit asked for."""
    from errlib.core.models import make_model

    X = tiny_images(96, shape=(1, 28, 28))
    y = torch.arange(96) % 10
    orig = getattr(torch.optim, cls)
    asked = []

    def make(*args, **kwargs):
        asked.append({k: kwargs[k] for k in ("foreach", "fused") if k in kwargs})
        kwargs = {k: v for k, v in kwargs.items() if k not in ("foreach", "fused")}
        return orig(*args, **kwargs, **impl)
    model = make_model("cnn", "mnist", seed=0)
    with monkeypatch.context() as patch:  # undone on return, so the next call patches the original
        patch.setattr(torch.optim, cls, make)
        fit(model, X, y, epochs=3, batch_size=16, optimizer=optimizer, lr=0.01, weight_decay=1e-3,
            schedule="onecycle", progress=False)
    return torch.cat([p.detach().flatten() for p in model.parameters()]), asked


def test_fit_uses_multi_tensor_sgd_with_bitwise_the_same_weights(monkeypatch):
    monkeypatch.setenv("ERRLIB_DEVICE", "cpu")  # the claim is the CPU's; CUDA training is not deterministic
    fast, asked = _train_with(monkeypatch, "sgd", "SGD", foreach=True)
    slow, _ = _train_with(monkeypatch, "sgd", "SGD", foreach=False)
    assert asked == [{"foreach": True}]  # fit asks for foreach itself
    assert torch.equal(fast, slow)


def test_fit_uses_fused_adam_with_the_same_weights_to_rounding(monkeypatch):
    monkeypatch.setenv("ERRLIB_DEVICE", "cpu")
    fused, asked = _train_with(monkeypatch, "adam", "Adam", fused=True)
    loop, _ = _train_with(monkeypatch, "adam", "Adam", foreach=False)
    assert asked == [{"fused": True}]  # fit asks for the fused kernel on the CPU
    from errlib.core.models import make_model
    init = torch.cat([p.detach().flatten() for p in make_model("cnn", "mnist", seed=0).parameters()])
    assert (fused - init).abs().max() > 0.05  # 18 steps of lr 0.01 moved the weights...
    assert (fused - loop).abs().max() < 1e-4  # ...and both kernels moved them alike, to rounding
    assert adam_kernel(torch.device("mps")) == {"foreach": True}
    assert adam_kernel(torch.device("cuda")) == {"fused": True}
