"""Tiny notebooks for the runner's tests: a parameters cell, a heading, and a cell that records what
its kernel saw (parameters, environment, start and end time) through errlib.stages.report.save_results."""
from __future__ import annotations

from pathlib import Path

import nbformat

BODY = '''
import os, time, types
import torch
import errlib.stages.cache, errlib.stages.report
t_start = time.time()
if eps > 10:  # in the settings' range (checked before any notebook runs), refused by this chapter
    raise ValueError(f"the fake chapter takes eps <= 10, got {eps}")
def build():
    with open(os.path.join(os.environ["ERRLIB_RUNS"], "shared-builds.log"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)
    return {"w": torch.ones(2)}, {}
errlib.stages.cache.run_stage("shared", {"x": 1}, build, verbose=False)
time.sleep(sleep)
env = {k: os.environ.get(k) for k in ("ERRLIB_PROFILE", "ERRLIB_RESULTS", "ERRLIB_THREADS", "OMP_NUM_THREADS",
                                     "OMP_WAIT_POLICY", "MALLOC_TRIM_THRESHOLD_")}
env["torch_threads"] = torch.get_num_threads()
cfg = types.SimpleNamespace(profile=profile)
R = errlib.stages.report
R.save_results(NAME, cfg, {"student_acc": R.fraction(0.5 + eps / 100, headline=True), "mean_norm": R.norm(0.1 * eps),
                           "other_share": R.fraction(0.25), "n_rows": R.count(3), "start": R.seconds(t_start),
                           "end": R.seconds(time.time())},
               settings={"profile": profile, "seed": seed, "eps": eps, "env": env})
'''


def write_fake(path: Path, sleep: float = 0.0) -> Path:
    """A notebook at ``path`` with parameters ``profile``, ``seed``, ``eps`` (eps > 10 fails)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell('profile: str = "smoke"  # profile\nseed: int = 0  # seed\n'
                                       'eps: float = 1.0  # radius')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A fake chapter\n## Parameters"), params,
                nbformat.v4.new_markdown_cell("## Record what the kernel saw"),
                nbformat.v4.new_code_cell(f"NAME = {path.stem!r}\nsleep = {sleep!r}\n" + BODY)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
