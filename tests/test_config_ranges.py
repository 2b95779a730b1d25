"""Every setting's declared range (errlib.stages.params.RANGES), generated from the table itself: bad
values (wrong type, nan, +-inf, below the least value, above a bound, an unknown name, None where None
means nothing) are refused before any compute with the setting's name; good values are accepted. Then
the attack's own argument checks, and a bad parameter on the course's command line."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errlib.core.attacks import pgd
from errlib.core.constrained import constrained_pgd
from errlib.core.data import dataset_info
from errlib.run.course import main as course_main
from errlib.stages.config import Config, resolve
from errlib.stages.params import RANGES, Range, check_parameters

pytestmark = pytest.mark.usefixtures("isolated_env")
FIELDS = [f.name for f in dataclasses.fields(Config)]
BASE = resolve("smoke")  # mnist: radii up to 28 (L2), 60,000 training and 10,000 test images
FAST = settings(max_examples=12, deadline=None, derandomize=True,  # the same examples on every run
                suppress_health_check=[HealthCheck.function_scoped_fixture])
NUMBERS = [n for n, r in RANGES.items() if r.kind is float or r.kind is tuple and r.item.kind is float]


def _bound(r: Range) -> float:
    return r.high(BASE.to_dict())[0]


def _good(r: Range, name: str) -> st.SearchStrategy:
    """Values inside ``r`` (as BASE's other settings bound them)."""
    if r.kind is tuple:
        inner = _good(r.item, name)
        values = st.lists(inner.filter(lambda v: v is not None), min_size=1, max_size=4).map(tuple)
    elif r.names is not None:
        values = st.sampled_from(list(r.names()))
    elif r.kind is bool:
        values = st.booleans()
    elif r.kind is str:  # the device: parsed by torch; the CPU is always there
        values = st.just("cpu")
    else:
        high = _bound(r) if r.high else (10 ** 6)
        low = 0 if r.low is None else r.low
        values = (st.integers(int(low) + r.strict, int(high)) if r.kind is int else
                  st.floats(low, high, exclude_min=r.strict, allow_nan=False, allow_infinity=False))
    if r.differs:
        values = values.filter(lambda v: v != getattr(BASE, r.differs))
    return st.one_of(st.none(), values) if r.none else values


def _bad(r: Range) -> st.SearchStrategy:
    """Values outside ``r``: of another type, not finite, too small, too large, unknown, None."""
    other = {int: st.one_of(st.booleans(), st.text(max_size=3), st.just(2.5)),
             float: st.one_of(st.booleans(), st.text(max_size=3), st.sampled_from([math.nan, math.inf, -math.inf])),
             str: st.one_of(st.integers(), st.floats(), st.booleans()),
             bool: st.one_of(st.integers(), st.text(max_size=3)), tuple: st.one_of(st.just(()), st.floats())}
    options = [other[r.kind]] + ([] if r.none else [st.none()])
    if r.kind is tuple:
        options.append(_bad(r.item).filter(lambda v: v is not None).map(lambda v: (v,)))
    if r.kind in (int, float) and r.low is not None:
        below = (st.integers(max_value=int(r.low) - (not r.strict)) if r.kind is int else
                 st.floats(max_value=r.low, exclude_max=not r.strict, allow_nan=False, allow_infinity=False))
        options.append(below)
    if r.high is not None:
        options.append(st.integers(int(_bound(r)) + 1, 10 ** 30) if r.kind is int else
                       st.floats(_bound(r), 1e300, exclude_min=True))
    if r.names is not None:
        options.append(st.text(max_size=6).filter(lambda v: v not in r.names()))
    if r.differs:
        options.append(st.just(getattr(BASE, r.differs)))
    return st.one_of(options)


def test_every_setting_has_one_declared_range():
    assert sorted(RANGES) == sorted(FIELDS)


@pytest.mark.parametrize("name", FIELDS)
def test_a_value_out_of_range_is_refused_with_the_settings_name(name, tmp_path):
    @FAST
    @given(value=_bad(RANGES[name]))
    def refused(value):
        with pytest.raises(ValueError, match=f"'{name}'"):
            BASE.replace(**{name: value})
        r = RANGES[name]
        if value is not None and not (r.high or r.differs or r.item and r.item.high):  # a parameter alone
            with pytest.raises(ValueError, match=f"parameter '{name}'"):
                check_parameters({name: value}, [name])

    refused()
    assert not (tmp_path / "runs").exists(), "nothing was computed or written"


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_no_number_setting_takes_a_non_finite_value(name, bad):
    with pytest.raises(ValueError, match=f"'{name}'"):
        BASE.replace(**{name: (1.0, bad) if RANGES[name].kind is tuple else bad})


@pytest.mark.parametrize("name", FIELDS)
def test_a_value_in_range_is_accepted(name):
    base = BASE.replace(eps=0.5, sweep_eps=(0.5, 1.0)) if name == "norm" else BASE  # linf radii are <= 1

    @FAST
    @given(value=_good(RANGES[name], name))
    def accepted(value):
        kept = getattr(base.replace(**{name: value}), name)
        assert kept == value or name.endswith("dataset") and dataset_info(value).name == kept
        check_parameters({name: value}, [name])

    accepted()


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_every_profile_and_dataset_is_in_range(profile, dataset):
    cfg = resolve(profile, dataset=dataset)
    assert cfg.n_constrained is None and cfg.dataset == dataset


@pytest.mark.parametrize("overrides, shown", [
    (dict(eps=math.inf), "'eps'"), (dict(step_size=math.inf), "'step_size'"), (dict(step_size=-1), "'step_size'"),
    (dict(step_size=math.nan), "'step_size'"), (dict(eps=29.0), "<= 28 (the largest l2 distance"),
    (dict(norm="linf", eps=1.5), "<= 1 (the largest linf distance"), (dict(n_attack=60001), "'n_attack'"),
    (dict(judge_eval_eps=(1.0, math.nan)), "'judge_eval_eps'"), (dict(seed=True), "'seed'"),
    (dict(epochs=2.0), "'epochs'"), (dict(transfer_models=("cnn", "vit")), "'transfer_models'"),
    (dict(constrain_lam=-0.5), "'constrain_lam'"), (dict(device="gpu0"), "'device'"),
])
def test_resolve_refuses_what_the_issue_found(overrides, shown):
    with pytest.raises(ValueError) as exc:
        resolve("default", **overrides)
    assert shown in str(exc.value)


def test_useful_edge_values_are_kept():
    assert resolve("smoke", n_constrained=0).n_constrained == 0
    assert resolve("smoke", n_constrained=10 ** 6).n_constrained == 10 ** 6  # more than n_attack: all rows
    assert resolve("smoke").replace(n_constrained=None).n_constrained is None
    assert resolve("smoke", dataset="fmnist", eps=28.0).eps == 28.0  # an alias, the largest radius


@pytest.mark.parametrize("arg", ["eps", "step_size"])
@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0])
def test_the_attacks_refuse_a_non_finite_radius_or_step(arg, bad):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, t = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    kw = dict(eps=1.0, steps=2, step_size=0.5)
    kw[arg] = bad
    with pytest.raises(ValueError, match=arg):
        pgd(model, x, t, progress=False, **kw)
    with pytest.raises(ValueError, match=arg):
        constrained_pgd(model, model, x, t, lam=1.0, **kw)


@pytest.mark.parametrize("param, shown", [(("eps", "inf"), "parameter 'eps'"), (("step_size", "nan"), "'step_size'"),
                                          (("eps", "100"), "<= 28"), (("seed", "-1"), "'seed'")])
def test_the_course_refuses_a_bad_parameter_before_any_notebook(tmp_path, capsys, param, shown):
    with pytest.raises(SystemExit) as exit_:
        course_main(["run", "--profile", "smoke", "--only", "01", "-p", *param, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and shown in err and "Traceback" not in err
    assert not (tmp_path / "out").exists(), "no notebook may run"
