"""A new norm is one file (plus its yaml): written outside the package, named in
NORMBENCH_PLUGINS, it builds, trains, is probed and runs in a study, touching no other file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import TINY, run_script

pytestmark = pytest.mark.slow  # spawns train.py and sweep.py

NORM_FILE = '''
"""y = weight * (beta x / (1 + |beta x|)), beta a learnable scalar: a norm from outside normbench."""
from dataclasses import dataclass

import torch
from torch import nn

from normbench.norms import NormLayer, option, register_norm
from normbench.norms.options import boolean, positive


@register_norm
class SoftSign(NormLayer, nn.Module):
    norm_name = "softsign"

    @dataclass
    class Options:
        beta0: float = option(1.0, positive, "initial beta (> 0)")
        affine: bool = option(True, boolean, "per-channel weight (init ones)")

    def __init__(self, num_features, layout="channels_last", *, device=None, dtype=None, **options):
        layout = self.check_layout(layout)
        o = self.resolve(options)
        super().__init__()
        self.layout = layout
        self.beta = nn.Parameter(torch.full((1,), o.beta0, device=device, dtype=dtype))
        self.weight = nn.Parameter(torch.ones(num_features, device=device, dtype=dtype)) if o.affine else None

    def pre_affine(self, rows):
        u = self.beta.float() * rows
        return u / (1 + u.abs())

    def forward(self, x):
        u = self.beta * x
        y = u / (1 + u.abs())
        if self.weight is None:
            return y
        shape = (-1,) + (1,) * (x.ndim - 2) if self.layout == "channels_first" and x.ndim > 2 else (-1,)
        return y * self.weight.view(shape)
'''

CHECK = '''
import torch
from normbench.norms import NormConfigError, build_norm, norm_keys
m = build_norm("softsign", 4, beta0=2.0)
x = torch.randn(3, 4)
torch.testing.assert_close(m(x), 2 * x / (1 + (2 * x).abs()))
assert norm_keys()["beta0"].norms == ("softsign",) and "softsign" in norm_keys()["affine"].norms
try:
    build_norm("layernorm", 4, beta0=-1.0)  # a key is checked whatever the norm, as DyT's are
except NormConfigError as e:
    print("error:", e)
'''


@pytest.fixture
def plugin(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "nb_softsign.py").write_text(NORM_FILE, encoding="utf-8")
    (tmp_path / "configs" / "norm").mkdir(parents=True)
    (tmp_path / "configs" / "norm" / "softsign.yaml").write_text(
        "defaults:\n  - /schema/norm@_here_\n  - _self_\n\nname: softsign\n", encoding="utf-8")
    env = {"NORMBENCH_PLUGINS": "nb_softsign", "PYTHONPATH": str(tmp_path / "pkg")}
    return tmp_path, env, f"hydra.searchpath=[file://{tmp_path / 'configs'}]"


def test_a_norm_in_one_file_builds_trains_is_probed_and_runs_in_a_study(plugin):
    root, env, searchpath = plugin
    check = root / "check.py"
    check.write_text(textwrap.dedent(CHECK), encoding="utf-8")
    done = subprocess.run([sys.executable, str(check)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "norm.beta0 = -1.0 is not allowed: must be a number > 0" in done.stdout

    run = root / "run"
    done = run_script("train.py", "norm=softsign", "norm.beta0=2.0", *TINY, "trainer.max_steps=3", "probe.every=1",
                      "probe.scurve_steps=[-1]", searchpath, f"hydra.run.dir={run}", env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run / "summary.json").read_text())["status"] == "ok"
    lines = [json.loads(line) for line in (run / "probes.jsonl").read_text().splitlines()]
    assert {line["norm"] for line in lines if line["kind"] in ("stats", "scurve")} == {"softsign"}
    assert {line["kind"] for line in lines} >= {"stats", "scurve", "branch"}  # the ViT's branches probed too
    assert [line for line in lines if line["kind"] == "scurve"]  # its pre_affine hook fed the S-curve

    study = root / "study"
    done = run_script("sweep.py", "study=alpha_learn", "study.scale=smoke", "study.variants.softsign=[norm=softsign]",
                      "study.scales.smoke.variants=[softsign]", f"study.out={study}",
                      f"hydra.sweep.dir={study / 'runs'}", searchpath, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "softsign" in (study / "table.md").read_text()

    done = run_script("train.py", "norm=softsign", *TINY, searchpath, f"hydra.run.dir={root / 'without'}")
    assert done.returncode != 0 and "norm.name = 'softsign' is unknown" in done.stderr  # without the plugin
