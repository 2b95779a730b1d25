"""errlib.stages.pipeline smoke test on real MNIST: source -> errset -> student, cached in a temp run root."""
from __future__ import annotations

import os

import pytest
import torch

import errlib.stages.config
import errlib.stages.pipeline as P
from errlib.stages.errsets import ErrorSet

pytestmark = pytest.mark.usefixtures("isolated_env")

N_TEST = int(os.environ.get("ERRLIB_TEST_N_TEST", "1000"))


@pytest.fixture
def small_test_split(mnist_root, monkeypatch):
    """The real splits, with the test split cut to N_TEST images: scoring 10000 images
    three times per student dominates the runtime and adds nothing to a smoke test."""
    real = P.load_splits

    def load_splits(dataset):
        X, y, Xt, yt = real(dataset)
        return X, y, Xt[:N_TEST], yt[:N_TEST]

    monkeypatch.setattr(P, "load_splits", load_splits)
    return mnist_root


def test_pipeline_builds_caches_and_recomputes_downstream(small_test_split, tmp_path):
    runs = tmp_path / "runs"
    assert os.environ["ERRLIB_RUNS"] == str(runs)
    cfg = errlib.stages.config.resolve("smoke", n_train=1000, epochs=1, n_attack=200, steps=3,
                                student_epochs=1)

    stage = P.get_source(cfg)
    assert isinstance(stage, P.Stage) and stage.value is stage[0] and stage.result is stage[1]
    source, src = stage
    es, es_res = P.get_errset(cfg, "shift", source=stage)
    student, stu = P.get_student(cfg, "shift", errset=(es, es_res))
    assert (src.cached, es_res.cached, stu.cached) == (False, False, False)
    for r in (src, es_res, stu):
        assert r.path.parent.parent == runs and r.path.is_dir()
    assert es_res.manifest["upstream"] == [src.key]
    assert stu.manifest["upstream"] == [es_res.key]

    # What was built is sane.
    assert isinstance(es, ErrorSet) and len(es) == 200
    assert torch.equal(es.y, (es.y_true + 1) % 10)
    assert (es.delta_norm <= cfg.eps + 1e-4).all()
    assert 0.0 <= es.x.min() and es.x.max() <= 1.0
    assert src.metrics["n_train"] == 1000 and stu.metrics["n_train"] == 200
    assert src.metrics["test_acc"] > 0.3  # 1000 images, one epoch: well above chance (0.1)
    assert {"test_acc", "test_acc_shifted", "errset_train_acc", "history"} <= set(stu.metrics)
    assert not source.training and not student.training

    # A second call, with nothing passed in, is served from the cache at every stage.
    student2, stu2 = P.get_student(cfg, "shift")
    assert stu2.cached is True and stu2.key == stu.key
    _, src2 = P.get_source(cfg)
    es2, es_res2 = P.get_errset(cfg, "shift")
    assert src2.cached and es_res2.cached
    assert torch.equal(es2.x, es.x) and torch.equal(es2.y, es.y)
    for k, v in student.state_dict().items():
        assert torch.equal(student2.state_dict()[k], v), k

    # Changing eps recomputes the error set and the student, not the source.
    cfg2 = cfg.replace(eps=cfg.eps / 2)
    _, src3 = P.get_source(cfg2)
    es3, es_res3 = P.get_errset(cfg2, "shift", source=(source, src3), guard=False)  # 3 steps at half eps: weak
    _, stu3 = P.get_student(cfg2, "shift", errset=(es3, es_res3))
    assert src3.cached is True and src3.key == src.key
    assert es_res3.cached is False and es_res3.key != es_res.key
    assert stu3.cached is False and stu3.key != stu.key
    assert (es3.delta_norm <= cfg2.eps + 1e-4).all()
    assert sorted(p.name for p in (runs / "errset").iterdir()) == sorted([es_res.key, es_res3.key])
