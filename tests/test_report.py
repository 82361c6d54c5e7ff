"""normbench.report: fake run folders written by hand -> tables, figures, CLI, wandb.

Every expected number is computed here by hand (or by numpy on the same data), never by
the report code itself.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from normbench.report import ReportError, build_tables, load_runs, make_figures, parse_spec, report
from normbench.report.figures import render_figures
from normbench.report.probes import alpha_points, linear_range, pearson_r

from runfolders import LAYERS, inv_std_of, make_run

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
def cell(tables: dict, **keys) -> dict:
    rows = [r for r in tables["table_rows"] if all(r.get(k) == v for k, v in keys.items())]
    assert len(rows) == 1, (keys, tables["table_rows"])
    return rows[0]


# -- tables -------------------------------------------------------------------------
def test_mean_std_and_n_per_cell_by_hand(tmp_path):
    for seed, acc in enumerate([80.0, 82.0, 85.0]):
        make_run(tmp_path, f"dyt{seed}", variant="dyt", seed=seed, acc=acc)
    make_run(tmp_path, "ln0", variant="ln", acc=70.0)
    t = build_tables(load_runs([tmp_path]), None)
    dyt = cell(t, variant="dyt")
    mean = (80 + 82 + 85) / 3
    std = math.sqrt(((80 - mean) ** 2 + (82 - mean) ** 2 + (85 - mean) ** 2) / 2)
    assert dyt["mean"] == pytest.approx(mean) and dyt["std"] == pytest.approx(std)
    assert (dyt["n"], dyt["n_diverged"], dyt["status"]) == (3, 0, "ok")
    assert dyt["text"] == f"{mean:.1f} ± {std:.1f}"
    ln = cell(t, variant="ln")
    assert (ln["mean"], ln["std"], ln["n"], ln["text"]) == (70.0, None, 1, "70.0")
    assert "| dyt | 82.3 ± 2.5 | 3 | 0 | ok |" in t["table_markdown"]


def test_diverged_run_counts_its_best_value_and_is_marked_failed(tmp_path):
    # final val/acc1 10.0 after divergence must not be used: the best before it is
    make_run(tmp_path, "id0", variant="identity", seed=0, status="diverged", acc=10.0, best=58.0, diverged_step=200)
    make_run(tmp_path, "id1", variant="identity", seed=1, status="diverged", acc=10.0, best=59.0, diverged_step=300)
    make_run(tmp_path, "mix0", variant="hardtanh", seed=0, acc=80.0)
    make_run(tmp_path, "mix1", variant="hardtanh", seed=1, status="diverged", acc=5.0, best=60.0, diverged_step=200)
    t = build_tables(load_runs([tmp_path]), None)
    failed = cell(t, variant="identity")
    assert failed["mean"] == pytest.approx(58.5) and (failed["n"], failed["n_diverged"]) == (2, 2)
    assert failed["status"] == "failed"
    assert failed["text"] == "58.5 ± 0.7 failed (2/2 diverged)"
    mixed = cell(t, variant="hardtanh")
    assert mixed["mean"] == pytest.approx(70.0) and mixed["status"] == "mixed"
    assert mixed["text"].endswith("(1/2 diverged)")
    runs = {Path(r["path"]).name: r for r in t["run_rows"]}
    assert runs["id0"]["value"] == 58.0 and runs["id0"]["diverged_step"] == 200
    assert runs["mix0"]["value"] == 80.0


def test_a_run_ending_at_chance_without_a_nan_is_counted_in_its_cell(tmp_path):
    # Fashion-MNIST: chance 10 %, and the band is 2 points: 11.9 is at chance, 12.1 is not
    make_run(tmp_path, "a0", variant="dyt", seed=0, acc=11.9)
    make_run(tmp_path, "a1", variant="dyt", seed=1, acc=70.0)
    make_run(tmp_path, "b0", variant="ln", seed=0, acc=12.1)
    runs = {r.path.name: r for r in load_runs([tmp_path])}
    assert runs["a0"].chance == 10.0 and runs["a0"].at_chance("val/acc1")
    assert not runs["a1"].at_chance("val/acc1") and not runs["b0"].at_chance("val/acc1")
    assert not runs["a0"].at_chance("val/loss")  # only an accuracy has a chance level here
    t = build_tables(load_runs([tmp_path]), None)
    stuck = cell(t, variant="dyt")
    assert stuck["n_at_chance"] == 1 and stuck["status"] == "ok"  # ok as training goes; the cell says more
    assert stuck["text"] == "41.0 ± 41.1 (1/2 at chance)"
    assert cell(t, variant="ln")["n_at_chance"] == 0 and "chance" not in cell(t, variant="ln")["text"]
    assert "1 run(s) ended at chance accuracy" in t["markdown"]


@pytest.mark.parametrize("data,task,chance", [
    ({"name": "cifar100"}, "classify", 1.0), ({"name": "synthetic", "synthetic": {"num_classes": 4}}, "classify", 25.0),
    ({"name": "fashion_mnist"}, "classify", 10.0), ({"name": "shakespeare"}, "lm", None),
])
def test_chance_accuracy_is_100_over_the_data_sets_classes(tmp_path, data, task, chance):
    run_dir = make_run(tmp_path, "r")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**cfg, "data": data, "task": {"name": task}}))
    run = load_runs([tmp_path])[0]
    assert run.chance == chance
    assert run.at_chance("val/acc1") == (chance is not None and 80.0 <= chance + 2)


def test_runs_with_and_without_a_validation_split_in_one_table_are_flagged(tmp_path):
    for i in range(2):
        make_run(tmp_path, f"old{i}", variant="dyt", seed=i)
    new = make_run(tmp_path, "new0", variant="ln", seed=0)
    cfg = yaml.safe_load((new / "config.yaml").read_text())
    cfg["data"] = {"name": "fashion_mnist_mini", "val_split": 1000}
    (new / "config.yaml").write_text(yaml.safe_dump(cfg))
    md = build_tables(load_runs([tmp_path]), None)["markdown"]
    assert "Runs of two data formats are mixed: 2 image run(s) predate data.val_split" in md and "1 have a validation" in md
    (new / "config.yaml").write_text(yaml.safe_dump({**cfg, "data": {"name": "fashion_mnist_mini"}}))
    assert "two data formats" not in build_tables(load_runs([tmp_path]), None)["markdown"]  # all old: one format


@pytest.mark.parametrize("task, data, old", [
    ("classify", {"name": "fashion_mnist_mini"}, True),
    ("generate", {"name": "fashion_mnist_mini"}, True),   # a DiT's val/* was the test images too
    ("generate", {"name": "fashion_mnist_mini", "val_split": 1000}, False),
    ("lm", {"name": "shakespeare"}, False),              # text has its own split (val_fraction)
])
def test_image_runs_of_every_task_without_data_val_split_predate_it(tmp_path, task, data, old):
    run_dir = make_run(tmp_path, "r")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**cfg, "data": data, "task": {"name": task}}))
    run = load_runs([tmp_path])[0]
    assert run.predates_val_split is old and run.image_data is (task != "lm")


def test_language_model_runs_with_different_test_splits_in_one_table_are_flagged(tmp_path):
    dirs = [make_run(tmp_path, f"r{i}", variant="dyt", seed=i) for i in range(3)]
    for d, data in zip(dirs, ({"name": "shakespeare"}, {"name": "shakespeare"},
                              {"name": "shakespeare", "test_fraction": 0.05})):
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        (d / "config.yaml").write_text(yaml.safe_dump({**cfg, "data": data, "task": {"name": "lm"}}))
    runs = load_runs([tmp_path])
    assert [r.text_test_fraction for r in runs] == [0.0, 0.0, 0.05] and {r.chance for r in runs} == {None}
    md = build_tables(runs, None)["markdown"]
    assert "2 with data.test_fraction = 0, 1 with data.test_fraction = 0.05" in md
    cfg = yaml.safe_load((dirs[2] / "config.yaml").read_text())
    (dirs[2] / "config.yaml").write_text(yaml.safe_dump({**cfg, "data": {"name": "shakespeare", "test_fraction": 0}}))
    assert "two data formats" not in build_tables(load_runs([tmp_path]), None)["markdown"]  # 0 and absent: one format


def test_running_and_failed_runs_are_excluded_and_listed(tmp_path):
    make_run(tmp_path, "ok0", variant="dyt", seed=0, acc=80.0)
    make_run(tmp_path, "live", variant="dyt", seed=1, status="running", acc=99.0)
    make_run(tmp_path, "crash", variant="ln", seed=0, status="failed", acc=1.0)
    t = build_tables(load_runs([tmp_path]), None)
    dyt = cell(t, variant="dyt")
    assert (dyt["mean"], dyt["n"], dyt["n_incomplete"]) == (80.0, 1, 1)
    ln = cell(t, variant="ln")
    assert ln["mean"] is None and ln["status"] == "incomplete" and ln["text"] == "— (1 incomplete)"
    note = t["notes"][-1]
    assert note.startswith("Incomplete runs, not in any mean (2)")
    assert "live` (running" in note and "crash` (failed" in note and "RuntimeError: boom" in note


def test_group_by_a_dotted_key_with_columns(tmp_path):
    for i, (norm, lr, acc) in enumerate([("dyt", 1e-3, 80.0), ("dyt", 1e-3, 84.0), ("dyt", 4e-3, 70.0),
                                         ("layernorm", 1e-3, 81.0), ("layernorm", 4e-3, 79.0)]):
        make_run(tmp_path, f"r{i}", variant=None, norm=norm, lr=lr, seed=i, acc=acc)
    spec = {"report": {"group_by": ["norm.name"], "columns": ["optim.lr"], "figures": []}}
    t = build_tables(load_runs([tmp_path]), spec)
    assert cell(t, **{"norm.name": "dyt", "optim.lr": 1e-3})["mean"] == pytest.approx(82.0)
    assert cell(t, **{"norm.name": "dyt", "optim.lr": 4e-3})["mean"] == pytest.approx(70.0)
    assert cell(t, **{"norm.name": "layernorm", "optim.lr": 4e-3})["n"] == 1
    header, _, *rows = t["table_markdown"].splitlines()
    assert header == "| norm.name \\ optim.lr | 0.001 | 0.004 |"
    assert rows[0].startswith("| dyt | 82.0 ± 2.8 (n=2) | 70.0 (n=1) |")
    # variant null falls back to <model.name>-<norm.name>
    assert load_runs([tmp_path])[0].variant == "vit-dyt"


def test_resumed_metrics_keep_the_last_line_of_a_step(tmp_path):
    d = make_run(tmp_path, "resumed", extra_metrics=[{"step": 200, "split": "train", "loss": 0.123}])
    summary = json.loads((d / "summary.json").read_text())
    summary["final"] = {}  # make the table read the final value from metrics.jsonl
    (d / "summary.json").write_text(json.dumps(summary))
    run = load_runs([tmp_path])[0]
    steps, losses = run.series("train/loss")
    assert steps == [100, 200, 300] and losses[1] == 0.123
    assert run.final("val/acc1") == pytest.approx(80.0)


def test_older_flat_metric_names_are_accepted(tmp_path):
    make_run(tmp_path, "old", acc=77.0, old_names=True)
    run = load_runs([tmp_path])[0]
    assert run.value("val/acc1") == 77.0
    assert run.series("val/acc1")[1][-1] == pytest.approx(77.0)


def test_older_task_string_and_trainer_label_smoothing_read_as_the_task_group(tmp_path):
    # config.yaml had `task: classify` and trainer.label_smoothing before the task config group
    old = make_run(tmp_path, "old", norm="dyt", acc=70.0)
    config = yaml.safe_load((old / "config.yaml").read_text())
    config["trainer"]["label_smoothing"] = 0.1
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    before = (old / "config.yaml").read_bytes()
    new = make_run(tmp_path, "new", norm="layernorm", acc=80.0)
    config = yaml.safe_load((new / "config.yaml").read_text())
    config["task"] = {"name": "classify", "label_smoothing": 0.1}
    (new / "config.yaml").write_text(yaml.safe_dump(config))
    lm = make_run(tmp_path, "lm", norm="rmsnorm")
    config = yaml.safe_load((lm / "config.yaml").read_text())
    config.update(task="lm", trainer={**config["trainer"], "label_smoothing": 0.1})  # unused by lm: dropped
    (lm / "config.yaml").write_text(yaml.safe_dump(config))
    make_run(tmp_path, "no_config", norm="identity").joinpath("config.yaml").unlink()

    runs = {r.path.name: r for r in load_runs([tmp_path])}
    assert {n: r.key("task") for n, r in runs.items()} == {"old": "classify", "new": "classify", "lm": "lm",
                                                          "no_config": "classify"}  # the last from summary.json
    assert runs["old"].key("task.name") == "classify" and runs["old"].has_key("task")
    assert runs["old"].key("task.label_smoothing") == runs["new"].key("task.label_smoothing") == 0.1
    assert runs["lm"].key("task.label_smoothing") is None and runs["old"].key("trainer.label_smoothing") is None
    assert (old / "config.yaml").read_bytes() == before  # the folder is read, never changed
    spec = {"report": {"group_by": ["task", "task.label_smoothing"], "figures": []}}
    t = build_tables([runs["old"], runs["new"]], spec)
    assert cell(t, **{"task": "classify", "task.label_smoothing": 0.1})["n"] == 2


# -- errors -------------------------------------------------------------------------
def test_bad_spec_keys_name_the_key_and_what_is_allowed(tmp_path):
    with pytest.raises(ReportError, match=r"report.group_bye is not a report key; allowed: metric, group_by"):
        parse_spec({"group_bye": ["variant"]})
    with pytest.raises(ReportError, match=r"report.figures\[0\].kind = 'losses' is not allowed: allowed: loss_curves"):
        parse_spec({"figures": [{"kind": "losses"}]})
    with pytest.raises(ReportError, match=r"report.figures\[0\].layer is not a key of a alpha_std figure; allowed: kind, layers"):
        parse_spec({"figures": [{"kind": "alpha_std", "layer": ["first"]}]})
    with pytest.raises(ReportError, match=r"split = 'test' is not allowed: allowed: train, val"):
        parse_spec({"figures": [{"kind": "loss_curves", "split": "test"}]})
    with pytest.raises(ReportError, match=r"figures\[0\].pairs = None is not allowed: required: a list of \[label, reference\]"):
        parse_spec({"figures": [{"kind": "curve_gap"}]})
    with pytest.raises(ReportError, match=r"figures\[0\].pairs\[1\] = \['dyt'\] is not allowed: a list of \[label, reference\]"):
        parse_spec({"figures": [{"kind": "curve_gap", "pairs": [["dyt", "ln"], ["dyt"]]}]})
    with pytest.raises(ReportError, match=r"figures\[0\].smooth = 0 is not allowed: must be an integer >= 1"):
        parse_spec({"figures": [{"kind": "curve_gap", "pairs": [["dyt", "ln"]], "smooth": 0}]})
    with pytest.raises(ReportError, match=r"figures\[0\].band is not a key of a curve_gap figure; allowed: kind, pairs, by"):
        parse_spec({"figures": [{"kind": "curve_gap", "pairs": [["dyt", "ln"]], "band": "std"}]})
    make_run(tmp_path, "r", probes=True)
    runs = load_runs([tmp_path])
    with pytest.raises(ReportError, match=r"report.group_by: key 'norm.nme' is in no run's config.yaml; did you mean norm.name"):
        build_tables(runs, {"group_by": ["norm.nme"]})
    with pytest.raises(ReportError, match=r"layers\[0\] = 'blocks.9.norm1' matches no probed layer.*blocks.0.norm1"):
        make_figures(runs, {"figures": [{"kind": "alpha_std", "layers": ["blocks.9.norm1"]}]}, tmp_path / "out")


def test_spec_from_a_hydra_config_and_defaults():
    from omegaconf import OmegaConf

    spec = parse_spec(OmegaConf.create({"report": {"group_by": ["norm.squash"], "columns": ["optim.lr"],
                                                   "figures": [{"kind": "alpha_std", "layers": ["first", 3]}]}}))
    assert spec.group_by == ("norm.squash",) and spec.columns == ("optim.lr",)
    assert spec.figures[0].options["layers"] == ["first", 3] and spec.figures[0].stem == "alpha_std"
    default = parse_spec(None)
    assert (default.metric, default.group_by, [f.kind for f in default.figures]) == ("val/acc1", ("variant",), ["loss_curves"])
    assert parse_spec({"metric": "val/loss"}).higher_is_better is False


def test_no_run_folders_is_an_error_naming_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"no run folders \(summary.json\) under .*empty"):
        load_runs([tmp_path / "empty"])
    with pytest.raises(ReportError, match=r"run folder .*nowhere does not exist"):
        load_runs([tmp_path / "nowhere"])


# -- probes' numbers ------------------------------------------------------------------
def test_pearson_r_of_alpha_vs_inv_std_equals_numpys(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"dyt{seed}", seed=seed, probes=True, alpha_scale=0.5 + 0.3 * seed)
    make_run(tmp_path, "ln", variant="ln", norm="layernorm", probes=True)  # no alpha: no points
    runs = load_runs([tmp_path])
    points = [p for r in runs for p in alpha_points(r)]
    assert len(points) == 2 * len(LAYERS) and {p["step"] for p in points} == {300}
    # the same data, read back by hand from the files
    alpha, inv = [], []
    for seed in range(2):
        for line in map(json.loads, (tmp_path / f"dyt{seed}" / "probes.jsonl").read_text().splitlines()):
            if line["kind"] == "stats" and line["step"] == 300:
                alpha.append(line["alpha"])
                inv.append(line["inv_std"])
    expected = np.corrcoef(inv, alpha)[0, 1]
    assert pearson_r([p["inv_std"] for p in points], [p["alpha"] for p in points]) == pytest.approx(expected, abs=1e-12)
    result = report([tmp_path], tmp_path / "out", {"figures": [{"kind": "alpha_vs_inv_std"}]})
    rows = list(map(lambda line: line.split(","), (tmp_path / "out" / "alpha_vs_inv_std_correlation.csv").read_text().splitlines()))
    assert rows[0] == ["model.name", "runs", "points", "pearson_r", "points_token", "pearson_r_token"]
    assert rows[1][:3] == ["vit", "2", str(2 * len(LAYERS))] and float(rows[1][3]) == pytest.approx(expected, abs=1e-12)
    assert f"{expected:.3f}" in result.markdown


def test_linear_range_share_by_hand():
    # DyT's own curve, y = tanh(0.5 x): the fit finds a = 1, b = 0.5, and the linear range is
    # where tanh is within 10 % of its tangent: |0.5 x| <= u*, tanh(u*)/u* = 0.9
    u_star = 0.5838
    assert math.tanh(u_star) / u_star == pytest.approx(0.9, abs=1e-4)
    x = np.linspace(-6, 6, 121)
    tokens = [x[::2], x[1::2]]
    lr = linear_range(tokens, [np.tanh(0.5 * t) for t in tokens], tolerance=0.1)
    assert (lr.a, lr.b, lr.x0) == (pytest.approx(1.0, rel=1e-2), pytest.approx(0.5, rel=1e-2), pytest.approx(0.0, abs=1e-12))
    assert lr.u_star == pytest.approx(u_star, abs=1e-3)
    assert lr.share == pytest.approx(np.mean(np.abs(0.5 * x) <= u_star))  # 23 of 121 points
    assert lr.inside[0].sum() + lr.inside[1].sum() == 23
    # LayerNorm, tokens with the same std and different means: one straight line, all in range
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 32))
    z = (z - z.mean(1, keepdims=True)) / z.std(1, keepdims=True)
    xs = 2.0 * z + 0.3
    ys = (xs - xs.mean(1, keepdims=True)) / xs.std(1, keepdims=True)
    assert linear_range(xs, ys).share == 1.0
    # 15 ordinary tokens and one with 20x the std: the S-curve of the paper. The linear range is
    # an interval of inputs: every point out of it is further from x0 than every point in it,
    # and the outliers are the extreme inputs of the wide token.
    z = rng.standard_normal((16, 32))
    z = (z - z.mean(1, keepdims=True)) / z.std(1, keepdims=True)
    xs = 2.0 * z
    xs[0] = 40.0 * z[0]
    ys = (xs - xs.mean(1, keepdims=True)) / xs.std(1, keepdims=True)
    lr = linear_range(xs, ys)
    dist = np.abs(xs - lr.x0)
    inside = np.stack(lr.inside)
    assert dist[~inside].min() > dist[inside].max()
    assert inside[0].mean() < 0.5 < inside[1:].mean()
    assert 0.5 < lr.share < 1.0


# -- figures, report, CLI -------------------------------------------------------------
FULL_SPEC = {"report": {
    "metric": "val/acc1", "group_by": ["variant"], "columns": [],
    "figures": [
        {"kind": "loss_curves", "split": "train", "metric": "loss", "by": ["variant"]},
        {"kind": "loss_curves", "split": "val", "metric": "loss", "band": "std"},
        {"kind": "stability_grid", "x": "optim.lr", "y": "model.depth", "facet": "variant"},
        {"kind": "alpha_std", "layers": ["first", "last", 2]},
        {"kind": "alpha_vs_inv_std", "by": ["model.name"]},
        {"kind": "scurve", "layers": ["first", "last"], "step": "last"},
        {"kind": "final_metric_bars", "by": ["variant"]},
    ]}}


def test_every_requested_figure_is_a_png(tmp_path):
    i = 0
    for variant, norm in (("dyt", "dyt"), ("ln", "layernorm")):
        for lr in (1e-3, 4e-3):
            for depth in (2, 4):
                for seed in range(2):
                    diverged = variant == "dyt" and lr == 4e-3 and depth == 4
                    make_run(tmp_path / "runs", f"{i}", variant=variant, norm=norm, lr=lr, depth=depth, seed=seed,
                             acc=80.0 - 10 * lr * 1000 + seed, probes=True, status="diverged" if diverged else "ok",
                             best=55.0 if diverged else None, diverged_step=300 if diverged else None)
                    i += 1
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(FULL_SPEC))
    result = report([tmp_path])  # spec from <folder>/study.yaml, output into the folder
    names = [p.name for p in result.figures]
    assert names == ["loss_curves.png", "loss_curves_2.png", "stability_grid.png", "alpha_std.png",
                     "alpha_vs_inv_std.png", "scurve.png", "final_metric_bars.png"]
    for p in result.figures:
        assert p.parent == tmp_path and p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000
    for name in ("table.md", "table.csv", "runs.csv", "stability_grid.csv", "scurve.csv", "alpha_std.csv"):
        assert (tmp_path / name).is_file(), name
    assert "S-curve: share of points in the linear range" in result.markdown
    assert result.readme_markdown(tmp_path.parent).count("![") == 7
    assert f"]({tmp_path.name}/loss_curves.png)" in result.readme_markdown(tmp_path.parent)
    runs_csv = (tmp_path / "runs.csv").read_text().splitlines()
    assert runs_csv[0].split(",")[:3] == ["path", "variant", "trainer.seed"]
    assert runs_csv[1].split(",")[-2] == "3"  # probe warnings counted


def test_cli_writes_table_md_and_prints_it(tmp_path):
    make_run(tmp_path / "study" / "runs", "0", variant="dyt", acc=81.0)
    make_run(tmp_path / "study" / "runs", "1", variant="ln", norm="layernorm", acc=79.0)
    out = subprocess.run([sys.executable, "-m", "normbench.report", str(tmp_path / "study")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "study" / "table.md").read_text()
    assert "| dyt | 81.0 | 1 | 0 | ok |" in table and "| dyt | 81.0 | 1 | 0 | ok |" in out.stdout
    assert (tmp_path / "study" / "loss_curves.png").read_bytes()[:8] == PNG_MAGIC



def test_cli_bad_folder_is_one_line_and_status_2(tmp_path, capsys):
    from normbench.report.__main__ import main

    assert main([str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err == f"error: run folder {tmp_path / 'nothing'} does not exist\n"


# -- wandb ----------------------------------------------------------------------------
def test_log_report_to_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for seed in range(2):
        make_run(tmp_path / "runs", f"{seed}", seed=seed, probes=True)
    result = report([tmp_path], tmp_path, {"figures": ["loss_curves", "alpha_vs_inv_std"]})
    from normbench.report import log_report_to_wandb

    run_id = log_report_to_wandb(result, "unit-study", mode="offline", dir=tmp_path / "wb")
    assert run_id
    assert list((tmp_path / "wb" / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    with pytest.raises(ReportError, match="wandb mode = 'live' is unknown; allowed: offline, online, disabled"):
        log_report_to_wandb(result, "unit-study", mode="live")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # wandb_workspaces' pydantic v1 validators
def test_dashboard_spec_is_built_offline():
    pytest.importorskip("wandb_workspaces")
    from normbench.report import dashboard_spec

    w = dashboard_spec("squash", project="normbench", entity="me", variants=["dyt", "ln"],
                       layers=["blocks.0.norm1", "norm"])
    names = [s.name for s in w.sections]
    assert names[:2] == ["Loss curves by variant", "val/acc1 by variant"]
    assert names[2:] == ["alpha and 1/std: blocks.0.norm1", "alpha and 1/std: norm"]
    ys = [p.y for p in w.sections[2].panels]
    assert [str(y[0]) for y in ys] == ["probe/blocks.0.norm1/alpha", "probe/blocks.0.norm1/inv_std"]
    assert w.sections[1].panels[0].table_name == "report/table"


def train_losses(steps: tuple, losses: list[float]) -> list[dict]:
    """metrics.jsonl lines that replace make_run's train loss at each step (the last line of a step wins)."""
    return [{"step": s, "split": "train", "loss": v} for s, v in zip(steps, losses)]


def test_curve_gap_numbers_by_hand(tmp_path):
    steps = (100, 200, 300, 400, 500)
    # ln: two seeds whose mean is 6, 5, 4, 3, 2; dyt: one seed, and a step 600 that ln lacks (left out)
    for seed, losses in enumerate(([5, 4, 3, 2, 1], [7, 6, 5, 4, 3])):
        make_run(tmp_path, f"ln{seed}", variant="ln", norm="layernorm", seed=seed, steps=steps,
                 extra_metrics=train_losses(steps, losses))
    make_run(tmp_path, "dyt0", steps=steps + (600,), extra_metrics=train_losses(steps + (600,), [7, 5, 5, 3, 3, 9]))
    figures = [{"kind": "curve_gap", "pairs": [["dyt", "ln"], ["ln", "dyt"]], "smooth": 2},
               {"kind": "curve_gap", "pairs": [["dyt", "ln"]], "smooth": 1}]
    result = report([tmp_path], tmp_path / "out", {"figures": figures})
    # moving average of 2 points: ln 6, 5.5, 4.5, 3.5, 2.5; dyt 7, 6, 5, 4, 3; gap 1, .5, .5, .5, .5
    dyt, ln = result.figure_output.tables["curve_gap"]
    assert (dyt["label"], dyt["reference"], dyt["n_label"], dyt["n_reference"]) == ("dyt", "ln", 1, 2)
    assert (dyt["points"], dyt["first_step"], dyt["last_step"]) == (5, 100, 500)
    assert dyt["mean_abs_gap"] == pytest.approx(0.6) and dyt["relative_gap"] == pytest.approx(0.6 / 4.4)
    assert dyt["final_gap"] == pytest.approx(0.5) and dyt["max_abs_gap"] == pytest.approx(1.0)
    # the other way round: the sign flips, and the relative gap is over dyt's mean (5)
    assert ln["final_gap"] == pytest.approx(-0.5) and ln["relative_gap"] == pytest.approx(0.6 / 5.0)
    # unsmoothed: gap 1, 0, 1, 0, 1
    raw = result.figure_output.tables["curve_gap_2"][0]
    assert (raw["mean_abs_gap"], raw["final_gap"], raw["relative_gap"]) == (pytest.approx(0.6), pytest.approx(1.0),
                                                                             pytest.approx(0.6 / 4.0))
    for name in ("curve_gap.png", "curve_gap_2.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_MAGIC
    header = (tmp_path / "out" / "curve_gap.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["label", "reference"] and "mean_abs_gap" in header and "relative_gap" in header
    assert "| dyt | ln | 1/2 | 0.6000 | 13.64 % | +0.5000 | 1.0000 |" in result.markdown


def test_curve_gap_label_that_no_group_has_names_the_labels(tmp_path):
    make_run(tmp_path, "dyt0")
    make_run(tmp_path, "ln0", variant="ln", norm="layernorm")
    runs, figures = load_runs([tmp_path]), lambda pairs: {"figures": [{"kind": "curve_gap", "pairs": pairs}]}
    message = r"curve_gap: pairs\[1\] = \['dytt', 'ln'\]: label 'dytt' is no group of by = \[variant\] among the finished runs; labels: dyt, ln"
    # beside a pair that can be drawn: skipped with a note (a study still running, a smaller scale)
    out = render_figures(runs, figures([["dyt", "ln"], ["dytt", "ln"]]), tmp_path / "out")
    assert any(re.match(message + r" \(pair skipped\)$", note) for note in out.notes)
    assert [r["label"] for r in out.tables["curve_gap"]] == ["dyt"]
    # no pair can be drawn: an error
    with pytest.raises(ReportError, match=message.replace("pairs\\[1\\]", "pairs\\[0\\]")):
        make_figures(runs, figures([["dytt", "ln"]]), tmp_path / "out2")


def test_layer_stats_average_each_layer_over_runs_at_the_last_step(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path, f"dyt{seed}", seed=seed, probes=True)
    make_run(tmp_path, "ln", variant="ln", norm="layernorm", probes=True)
    result = report([tmp_path], tmp_path / "out", spec={"group_by": ["variant"], "figures": [{"kind": "layer_stats"}]})
    rows = result.figure_output.tables["layer_stats"]
    dyt = {r["layer"]: r for r in rows if r["variant"] == "dyt"}
    ln = {r["layer"]: r for r in rows if r["variant"] == "ln"}
    last = 2  # the last step's index in make_run's steps
    for i, layer in enumerate(LAYERS):
        want = np.mean([1 / inv_std_of(i, last, seed) for seed in (0, 1)])  # input std, mean over both seeds
        assert dyt[layer]["input_std"] == pytest.approx(want) and dyt[layer]["runs"] == 2
        assert dyt[layer]["step"] == 300 and dyt[layer]["saturation"] == pytest.approx(0.01)
        assert ln[layer]["alpha"] is None  # LayerNorm has no alpha
    assert (tmp_path / "out" / "layer_stats.png").is_file() and "### layer_stats" in result.markdown


def test_branch_stats_average_each_branch_over_runs_at_the_last_probe(tmp_path):
    def branch_lines(d: Path, scale: float) -> None:
        lines = [{"step": s, "kind": "branch", "layer": f"blocks.{i // 2}.{'attn' if i % 2 == 0 else 'mlp'}",
                  "depth_index": i, "stream_std": scale * (1 + i) * s / 100, "branch_std": 0.5 * s / 100,
                  "branch_ratio": 0.5 / (scale * (1 + i))} for s in (100, 200) for i in range(4)]
        with (d / "probes.jsonl").open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines)

    for seed, scale in ((0, 1.0), (1, 3.0)):
        branch_lines(make_run(tmp_path, f"dyt{seed}", seed=seed, probes=True), scale)
    branch_lines(make_run(tmp_path, "ln", variant="ln", norm="layernorm", probes=True), 1.0)
    make_run(tmp_path, "old", variant="ln", norm="layernorm", seed=1, probes=True)  # probed before branch lines
    result = report([tmp_path], tmp_path / "out", spec={"group_by": ["variant"], "figures": [{"kind": "branch_stats"}]})
    rows = {(r["variant"], r["branch"]): r for r in result.figure_output.tables["branch_stats"]}
    assert len(rows) == 8 and rows[("dyt", "blocks.1.attn")]["runs"] == 2 and rows[("ln", "blocks.1.attn")]["runs"] == 1
    assert rows[("dyt", "blocks.1.attn")]["step"] == 200  # the last probe
    assert rows[("dyt", "blocks.1.attn")]["stream_std"] == pytest.approx(np.mean([1.0 * 3 * 2, 3.0 * 3 * 2]))
    assert rows[("dyt", "blocks.1.mlp")]["branch_ratio"] == pytest.approx(np.mean([0.5 / 4, 0.5 / 12]))
    assert (tmp_path / "out" / "branch_stats.png").read_bytes()[:8] == PNG_MAGIC
    assert "| ln | blocks.0.mlp | 4 | 1 | 0.25 |" in result.markdown
    none = report([tmp_path / "old"], tmp_path / "out2", spec={"figures": [{"kind": "branch_stats"}]})
    assert any("no run has branch probe lines" in n for n in none.figure_output.notes)


def test_a_figure_drawn_from_the_runs_its_where_selects(tmp_path):
    make_run(tmp_path, "deep", seed=0, probes=True, depth=9)
    make_run(tmp_path, "shallow", seed=0, probes=True, depth=3)
    make_run(tmp_path, "ln", variant="ln", norm="layernorm", probes=True, depth=9)
    spec = {"group_by": ["variant"], "figures": [
        {"kind": "layer_stats", "where": {"model.depth": 9}},
        {"kind": "layer_stats", "where": {"model.depth": 9, "variant": ["ln"]}},
        {"kind": "final_metric_bars", "where": {"model.depth": 6}}]}
    result = report([tmp_path], tmp_path / "out", spec=spec)
    rows = result.figure_output.tables["layer_stats"]  # the first layer_stats figure's rows
    assert {r["variant"] for r in rows} == {"dyt", "ln"} and all(r["runs"] == 1 for r in rows)
    assert (tmp_path / "out" / "layer_stats_2.png").is_file()
    assert not (tmp_path / "out" / "final_metric_bars.png").exists()
    assert "final_metric_bars: no finished run matches where = {'model.depth': [6]}" in result.markdown
    for bad, msg in (({"model.depth": []}, r"report.figures\[0\].where.model.depth = \[\]"),
                     ([9], r"report.figures\[0\].where = \[9\] is not allowed"),
                     ({"model depth": 9}, r"report.figures\[0\].where.model depth")):
        with pytest.raises(ReportError, match=msg):
            parse_spec({"figures": [{"kind": "layer_stats", "where": bad}]})


# -- issue 24: alpha against the per-token std, alpha0 x std at init -----------------------
def _stats_lines(run_dir: Path) -> list[dict]:
    return [x for x in map(json.loads, (run_dir / "probes.jsonl").read_text().splitlines()) if x["kind"] == "stats"]


def test_alpha_against_both_stds_and_runs_probed_before_the_token_std(tmp_path):
    for seed in range(2):
        make_run(tmp_path, f"new{seed}", seed=seed, probes=True, token_std=True, alpha_scale=0.5 + 0.3 * seed)
    make_run(tmp_path, "old", seed=2, probes=True)  # probes.jsonl of a run made before the token std
    result = report([tmp_path], tmp_path / "out", {"figures": [{"kind": "alpha_vs_inv_std"}, {"kind": "alpha_std"}]})
    alpha, inv, tok = [], [], []
    for name in ("new0", "new1", "old"):
        for line in _stats_lines(tmp_path / name):
            if line["step"] == 300:
                alpha.append(line["alpha"])
                inv.append(line["inv_std"])
                tok.append(line.get("inv_token_std"))
    (row,) = result.figure_output.tables["alpha_vs_inv_std_correlation"]
    assert (row["points"], row["points_token"]) == (3 * len(LAYERS), 2 * len(LAYERS))
    assert row["pearson_r"] == pytest.approx(np.corrcoef(inv, alpha)[0, 1], abs=1e-12)
    with_tok = [(t, a) for t, a in zip(tok, alpha) if t is not None]
    want = np.corrcoef([t for t, _ in with_tok], [a for _, a in with_tok])[0, 1]
    assert row["pearson_r_token"] == pytest.approx(want, abs=1e-12) and f"{want:.3f}" in result.markdown
    points = result.figure_output.tables["alpha_vs_inv_std"]
    assert sum(p["inv_token_std"] is None for p in points) == len(LAYERS)  # the old run's: marked, not dropped
    over_training = result.figure_output.tables["alpha_std"]
    assert all(r["pearson_r_token_over_training"] is not None for r in over_training)
    # a report of old runs alone: drawn, the token column marked
    old_only = report([tmp_path / "old"], tmp_path / "out_old", {"figures": [{"kind": "alpha_vs_inv_std"}]})
    assert "n/a (not probed)" in old_only.markdown and (tmp_path / "out_old" / "alpha_vs_inv_std.png").is_file()


def test_alpha0_times_the_input_std_at_init_by_hand(tmp_path):
    steps = (0, 100, 200)
    for seed in range(2):
        d = make_run(tmp_path, f"dyt{seed}", seed=seed, probes=True, steps=steps, token_std=seed == 0)
        lines = [json.loads(x) for x in (d / "probes.jsonl").read_text().splitlines()]
        for x in lines:  # at init every run's alpha is alpha0
            if x["step"] == 0 and "alpha" in x:
                x["alpha"] = 0.5
        (d / "probes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    make_run(tmp_path, "late", seed=5, probes=True)  # probed from step 100 on: no probe at init
    make_run(tmp_path, "ln", variant="ln", norm="layernorm", probes=True, steps=steps)  # no alpha: no row
    result = report([tmp_path], tmp_path / "out", {"figures": [{"kind": "layer_stats"}, {"kind": "alpha_vs_inv_std"}]})
    rows = {r["layer"]: r for r in result.figure_output.tables["alpha0_input_std"]}
    assert set(rows) == set(LAYERS) and {r["variant"] for r in rows.values()} == {"dyt"}
    at0 = {name: {x["layer"]: x for x in _stats_lines(tmp_path / name) if x["step"] == 0} for name in ("dyt0", "dyt1")}
    for layer in LAYERS:
        a = [at0[n][layer] for n in ("dyt0", "dyt1")]
        assert rows[layer]["runs"] == 2 and rows[layer]["alpha0"] == 0.5
        assert rows[layer]["alpha0_x_std"] == pytest.approx(np.mean([x["alpha"] * x["input_std"] for x in a]))
        # the token std: only dyt0 has it
        assert rows[layer]["alpha0_x_token_std"] == pytest.approx(a[0]["alpha"] * a[0]["token_std_mean"])
    md = result.markdown
    assert md.count("### alpha0_input_std") == 1  # written once, by the first figure
    section = md.split("### alpha0_input_std")[1].split("###")[0]
    shown = [line.split(" | ")[1] for line in section.splitlines() if line.startswith("| dyt | ")]
    assert shown == [LAYERS[0], LAYERS[2], LAYERS[4]]  # first, middle, last; all in the CSV
    assert "alpha0_input_std: 1 run(s) with alpha have no probe at step 0" in md
    assert len((tmp_path / "out" / "alpha0_input_std.csv").read_text().splitlines()) == 1 + len(LAYERS)


def test_layer_stats_marks_saturation_measured_before_the_per_squash_knee(tmp_path):
    for name, squash in (("tanh", "tanh"), ("hard", "hardtanh")):
        d = make_run(tmp_path, name, variant=name, probes=True)
        config = yaml.safe_load((d / "config.yaml").read_text())
        config["norm"]["squash"] = squash
        (d / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    new = make_run(tmp_path, "hard_new", variant="hard_new", probes=True)  # lines with their knee: not marked
    lines = [json.loads(x) for x in (new / "probes.jsonl").read_text().splitlines()]
    for x in lines:
        if "saturation" in x:
            x["saturation_knee"] = 1.0
    (new / "probes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    result = report([tmp_path], tmp_path / "out", spec={"group_by": ["variant"], "figures": [{"kind": "layer_stats"}]})
    marked = {r["variant"] for r in result.figure_output.tables["layer_stats"] if r["saturation_at_2"]}
    assert marked == {"hard"}  # tanh's knee is 2 anyway; the new run's lines carry theirs
    assert "| hard | norm | " in result.markdown and "1.0 % * |" in result.markdown
    assert "probed before saturation was measured at each squash's knee" in result.markdown


def test_metric_vs_draws_the_metric_against_a_numeric_key(tmp_path):
    """The length study's figure: accuracy against run length, one line per variant."""
    for variant, base in (("ln", 80.0), ("dyt", 74.0)):
        for steps in ((100, 200), (100, 200, 400), (100, 200, 400, 800)):
            for seed in range(2):
                make_run(tmp_path / "runs", f"{variant}-{steps[-1]}-{seed}", variant=variant, seed=seed, steps=steps,
                         acc=base + steps[-1] / 100 + seed)
    spec = {"group_by": ["variant", "trainer.max_steps"],
            "figures": [{"kind": "metric_vs", "x": "trainer.max_steps", "by": ["variant"]}]}
    result = report([tmp_path / "runs"], tmp_path / "out", spec=spec)
    assert [p.name for p in result.figures] == ["metric_vs.png"]
    assert result.figures[0].read_bytes()[:8] == PNG_MAGIC and result.figures[0].stat().st_size > 5000
    with pytest.raises(ReportError, match="logx = 'yes'"):
        report([tmp_path / "runs"], tmp_path / "out", spec={"figures": [{"kind": "metric_vs", "logx": "yes"}]})
