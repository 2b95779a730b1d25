"""The course's ``report.md``, and how every page formats a published value.

Notebooks save their values through :mod:`errlib.stages.report` (``from errlib import report``);
this module reads them back for the course machinery. :func:`format_value` and
:func:`render_report` format by the kind each value was made with, never by range: a norm of
0.48 prints 0.48, not 48%.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..stages.kinds import kind_of


def format_value(v: Any, kind: str) -> str:
    """``v`` as a report prints it: a fraction as a percentage, a count with thousands separators,
    seconds with a unit, a norm or number with 3-4 significant digits."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):  # e.g. per-seed values; rows of a table stay in results.json
        if any(isinstance(x, dict) for x in v):
            return f"{len(v)} rows (in results.json)"
        return ", ".join(format_value(x, kind) for x in v)
    if not isinstance(v, (int, float)):
        return str(v)
    if kind == "fraction":
        return f"{100 * v:.1f}%"
    if kind == "count":
        return f"{v:,}" if float(v).is_integer() else f"{v:,.1f}"
    if kind == "seconds":
        return f"{v:.1f} s"
    return f"{v:.3g}" if kind == "norm" else f"{v:.4g}"


def render_report(doc: Dict[str, Any]) -> str:
    """The course's ``report.md``: one row per headline number (formatted by its kind) with its
    reference and notebook, then each notebook's status, seconds and peak memory."""
    lines = [f"# errlib course report — profile `{doc['profile']}`", "",
             "| notebook | quantity | ours | reference | reference source |",
             "|---|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        for name, val in entry.get("values", {}).items():
            kind = kind_of(f"{nb}: {name}", val)
            lines.append(f"| {nb} | {name} | {format_value(val.get('value'), kind)} | "
                         f"{format_value(val.get('reference'), kind)} | {val.get('source', '')} |")
    lines += ["", "| notebook | status | seconds | peak memory (MiB) |", "|---|---|---|---|"]
    for nb, entry in doc["notebooks"].items():
        lines.append(f"| {nb} | {entry.get('status')} | {entry.get('seconds', '—')} | "
                     f"{entry.get('peak_memory_mb', '—')} |")
    for name, entry in doc.get("ahead", {}).items():
        lines.append(f"| ahead: {name} | {entry.get('status')} | {entry.get('seconds', '—')} | |")
    lines += ["", f"Course wall clock: {format_value(doc.get('course_seconds'), 'seconds')}; CPU busy "
              f"{format_value(doc.get('cpu_utilisation'), 'fraction')} of {doc.get('cores', '—')} cores.", ""]
    return "\n".join(lines)


# Words for the pieces of a results key, tried in this order, so that a page reads as words, not
# identifiers: ``D_rand_student_clean_test_acc_mean`` -> "D_rand student, clean test accuracy
# (mean over seeds)". A piece not here prints with spaces for underscores.
PHRASES = (
    ("D_clean_test_acc", "source model (trained on D), clean test accuracy"),
    ("student_normalised_mnist_test_acc", "student, MNIST test accuracy (Fashion-MNIST normalised)"),
    ("student_mnist_test_acc", "student, MNIST test accuracy"), ("cross_domain", "cross-domain"),
    ("student_clean_test_acc", "student, clean test accuracy"), ("student_predicts_y_plus_1", "student says y+1"),
    ("student_agrees_with_teacher", "student agrees with its teacher"), ("predicts_y_plus_1", "says y+1"),
    ("random_wrong_label", "random-wrong-label"), ("grader_filtered", "grader-filtered"),
    ("random_subset", "random subset (same size)"), ("same_rows", "plain, same rows,"), ("filtered_rows", "rows the judge keeps"),
    ("filtered", "judge-filtered"), ("constrained", "judge-constrained"),
    ("clean_test_acc", "clean test accuracy"), ("test_acc", "test accuracy"), ("train_acc", "training accuracy"),
    ("attack_success", "targeted attack success"), ("reads_target", "reads the target"),
    ("reads_original", "reads the true class"), ("reads_other", "reads another class"),
    ("robust_acc_own_radius", "robust accuracy at its own radius"), ("robust_acc", "robust accuracy"),
    ("robust_eps", "robust accuracy's radius"), ("clean_acc", "clean accuracy"),
    ("mean_perturbation_norm", "mean perturbation norm"), ("mean_delta_norm", "mean perturbation norm"),
    ("weak_teacher", "weak teacher"), ("wrong_share", "share it gets wrong"), ("n_wrong", "images it gets wrong"),
    ("mnist_teacher", "MNIST teacher"), ("eps_over_image_norm", "eps over a typical image norm"),
    ("paper_", "the paper's "), ("source_", "source model, "),
    ("margin_kept_test", "margin kept, test-set interval"), ("margin_kept", "margin kept"),
    ("filter_kept_clean_conf_y", "filter: judge's confidence in y on the clean images it keeps"),
    ("filter_dropped_clean_conf_y", "filter: judge's confidence in y on the clean images it drops"),
)
SUFFIXES = (("_mean", " (mean over seeds)"), ("_sd", " (sd over seeds)"))
SETS = ("D_rand", "D_det", "D_other", "D_wrong")


def label(key: str) -> str:
    """A results key in words (:data:`PHRASES`), for pages a person reads; the key stays in results.json."""
    text, tail = key, ""
    for suffix, words in SUFFIXES:
        if text.endswith(suffix):
            text, tail = text[: -len(suffix)], words
    words = list(SETS) + [w for _, w in PHRASES]
    for i, name in enumerate(SETS):
        text = text.replace(name, f"\x00{i}\x00")
    for i, (piece, _) in enumerate(PHRASES, start=len(SETS)):
        text = text.replace(piece, f"\x00{i}\x00")
    parts = [words[int(p)] if p.isdigit() else p.replace("_", " ") for p in text.split("\x00")]
    text = " ".join(p.strip() for p in parts if p.strip()).replace(" ,", ",").replace(",,", ",")
    return (text.rstrip(",") + tail).strip()


# A seed-0 value whose mean over seeds a notebook publishes under another name (besides the rule
# of :func:`_student_of`): 04's ``D_clean_test_acc`` is its source model's.
SAME_AS = {"D_clean_test_acc": "source_clean_test_acc"}


def _student_of(key: str) -> str:
    """``D_rand_clean_test_acc`` -> ``D_rand_student_clean_test_acc``: a set's seed-0 value named
    without ``student``, as 03 and 04 publish it beside the paper's number; "" for other keys."""
    name = next((s for s in SETS if key.startswith(f"{s}_")), None)
    rest = key[len(name) + 1:] if name else ""
    return f"{name}_student_{rest}" if name and rest and not rest.startswith("student_") and (
        rest.startswith(("clean_test_acc", "predicts_"))) else ""


def recorded_kind(record: Any) -> str:
    """The kind a results file recorded for a value, for pages that read runs of any age: a kind this
    code does not know yet is passed on as is (:func:`format_value` prints its value plainly),
    and a value without one reads as a number; :func:`render_report` stays strict."""
    kind = record.get("kind") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) else "number"


def over_seeds(values: Dict[str, Any], key: str) -> Dict[str, Any]:
    """``key``'s number as a results page shows it: ``{"mean", "sd", "n", "kind", "key", "reference", "source"}``.

    The mean and sd over seeds where the notebook published them (``<key>_mean``, ``<key>_sd``; for a
    value of seed 0 such as ``<set>_clean_test_acc``, its ``<set>_student_clean_test_acc_mean``), else the single value
    with sd None (``n``: how many seeds, None when the notebook did not say); the reference is the paper's number from whichever record carries one. Empty
    when the key is absent, so a page leaves the row out rather than failing."""
    candidates = [key] + [c for c in (SAME_AS.get(key), _student_of(key)) if c]
    base = next((k for k in candidates if f"{k}_mean" in values), None)
    records = [values.get(k) for k in [key, f"{base}_mean" if base else None] + candidates[1:] if k]
    records = [r for r in records if isinstance(r, dict)]
    if not records:
        return {}
    mean = values[f"{base}_mean"] if base else records[0]
    sd = values.get(f"{base}_sd", {}) if base else {}
    seeds = next((values[k].get("value") for k in ("seeds", "per_seed") if isinstance(values.get(k), dict)), None)
    ref = next((r for r in records if r.get("reference") is not None), {})
    return {"mean": mean.get("value"), "sd": sd.get("value"), "kind": recorded_kind(mean), "key": base or key,
            "n": (len(seeds) if isinstance(seeds, list) else None) if base else 1,
            "reference": ref.get("reference"), "source": ref.get("source", "")}


def format_mean_sd(entry: Dict[str, Any]) -> str:
    """"85.3% ± 6.5" (a fraction's sd in percentage points), or the value alone when there is no sd."""
    text = format_value(entry.get("mean"), entry.get("kind", "number"))
    sd = entry.get("sd")
    if isinstance(sd, (int, float)) and entry.get("n") != 1:
        text += f" ± {100 * sd:.1f}" if entry.get("kind") == "fraction" else f" ± {format_value(sd, entry['kind'])}"
    return text


def verdicts_in(values: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    """``(key, verdict, evidence)`` for each ``<set>_verdict`` a notebook published, D_det's first.

    The evidence is what the notebook published beside it under the same set's name with
    ``margin_kept`` in it (its mean over seeds and the interval's ends), in words; "" if nothing."""
    out = []
    for key in sorted((k for k in values if k.endswith("_verdict")), key=lambda k: (not k.startswith("D_det"), k)):
        record = values[key] if isinstance(values[key], dict) else {"value": values[key]}
        stem = key[: -len("_verdict")]
        near = {k[len(stem) + 1:]: v for k, v in values.items() if k.startswith(f"{stem}_") and "margin_kept" in k
                and isinstance(v, dict)}
        mean = next((v for k, v in near.items() if k.endswith("margin_kept_mean")), None)
        low = next((v for k, v in near.items() if k.endswith("margin_kept_low")), None)
        high = next((v for k, v in near.items() if k.endswith("margin_kept_high")), None)
        evidence = []
        if mean:
            evidence.append(f"margin kept {format_value(mean.get('value'), 'number')} (mean over seeds)")
        if low and high:
            evidence.append(f"interval {format_value(low.get('value'), 'number')} to "
                            f"{format_value(high.get('value'), 'number')}")
        out.append((key, str(record.get("value")), ", ".join(evidence)))
    return out
