"""Figures with many facets stay readable in a README (issue 25, part 5): facets in rows of a few,
at most MAX_PANELS of them, a note naming what was left out, and every facet still in the CSV.
(results/squash/alpha_std.png was one 13-row column, 1488 x 5616 px.)"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from matplotlib.image import imread

from normbench.report import report
from normbench.report.figures.common import MAX_COLUMNS, MAX_PANELS

LAYERS = ["blocks.0.norm1", "blocks.1.norm1", "fc_norm"]


def run(root: Path, variant: str, norm: str, seed: int, lr: float = 1e-3, depth: int = 2) -> None:
    d = root / f"{variant}-{seed}-{lr}-{depth}"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({
        "task": "classify", "variant": variant, "model": {"name": "vit", "depth": depth},
        "norm": {"name": norm}, "optim": {"lr": lr}, "trainer": {"seed": seed, "max_steps": 20}}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in (
        {"step": 10, "split": "train", "loss": 1.0}, {"step": 20, "split": "val", "loss": 0.9, "acc1": 70.0 + seed})))
    (d / "summary.json").write_text(json.dumps({
        "status": "ok", "step": 20, "final": {"val/acc1": 70.0 + seed}, "best": None,
        "run": {"model": "vit", "norm": norm, "seed": seed, "device": "cpu"}}))
    lines = []
    for step in (0, 10, 20):
        for i, layer in enumerate(LAYERS):
            line = {"step": step, "kind": "stats", "layer": layer, "norm": norm, "depth_index": i,
                    "input_std": 1.0 + i + 0.1 * step, "inv_std": 1 / (1.0 + i + 0.1 * step)}
            if norm == "dyt":
                line["alpha"] = 0.5 / (1.0 + i + 0.1 * step) + 0.01 * seed
            lines.append(line)
    (d / "probes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_alpha_std_lays_many_groups_out_in_a_capped_grid(tmp_path):
    runs = tmp_path / "runs"
    variants = [f"dyt{i:02d}" for i in range(9)]
    for v in variants:
        for seed in (0, 1):
            run(runs, v, "dyt", seed)
    run(runs, "layernorm", "layernorm", 0)  # no alpha to follow: a row of the CSV, no panel
    run(runs, "dyt_fixed", "dyt", 0)
    probes = next(runs.glob("dyt_fixed-*")) / "probes.jsonl"  # alpha fixed at 1 (norm=dyt_noalpha): a flat line
    probes.write_text("".join(json.dumps({**json.loads(line), "alpha": 1.0}) + "\n"
                              for line in probes.read_text().splitlines()))
    run(runs, "dyt_more", "dyt", 2)  # three runs: drawn before the two-run groups past the cap
    for seed in (0, 1):
        run(runs, "dyt_more", "dyt", seed)
    result = report([runs], tmp_path / "out",
                    {"group_by": ["variant"], "figures": [{"kind": "alpha_std", "layers": ["first", "last"]}]})
    height, width = imread(tmp_path / "out" / "alpha_std.png").shape[:2]
    rows = -(-MAX_PANELS // MAX_COLUMNS)
    assert width <= MAX_COLUMNS * 700 and height <= rows * 500 + 150, (width, height)
    assert height < 2.5 * width  # a grid, not a column of 18 panels
    table = result.figure_output.tables["alpha_std"]
    assert {r["variant"] for r in table} == {*variants, "layernorm", "dyt_fixed", "dyt_more"}  # all in the CSV
    text = (tmp_path / "out" / "table.md").read_text()
    assert f"alpha_std.png shows {MAX_PANELS} of 20 (group, layer) panels with a learnable alpha, those with the " \
           "most runs; 2 group(s) without one (no alpha, or alpha fixed) are not drawn; alpha_std.csv has every " \
           "group" in text


def test_stability_grid_wraps_its_facets_into_rows(tmp_path):
    runs = tmp_path / "runs"
    variants = [f"v{i}" for i in range(6)]
    for v in variants:
        for lr in (1e-3, 2e-3):
            for depth in (2, 4):
                run(runs, v, "dyt", 0, lr=lr, depth=depth)
    result = report([runs], tmp_path / "out", {"group_by": ["variant"], "figures": [
        {"kind": "stability_grid", "x": "optim.lr", "y": "model.depth", "facet": "variant"}]})
    height, width = imread(tmp_path / "out" / "stability_grid.png").shape[:2]
    assert width < 2400 and height > 500, (width, height)  # 4 a row, two rows (it was one 6-panel strip)
    assert len(result.figure_output.tables["stability_grid"]) == 6 * 4  # every cell in the CSV
    assert "stability_grid.png shows" not in (tmp_path / "out" / "table.md").read_text()  # nothing cut
