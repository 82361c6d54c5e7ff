"""results/<name>/README.md: what a reader cites — the claim, the paper's numbers beside ours,
the table and figures (rebuilt from the run folders), the verdict, the exact command, the
recipe, versions, machine and wall time."""

from __future__ import annotations

import json
from pathlib import Path

from normbench.report import ReportResult
from normbench.study.spec import Study, effective
from normbench.study.verdicts import compare_for, verdicts


def machine(runs) -> str:
    """The machine the runs were made on, as they record it (never the one rebuilding the README,
    and no host name): their device, processes per run and torch threads, and the hardware a
    summary's `machine` record names (normbench.track.versions.machine_record), where one does."""
    def summary_run(r) -> dict:
        return r.summary.get("run") or {}

    devices = sorted({str(summary_run(r).get("device") or r.key("trainer.device") or "?") for r in runs})
    worlds = sorted({int(summary_run(r).get("world_size") or 1) for r in runs})
    threads = sorted({str((r.config.get("trainer") or {}).get("threads") or "torch's default") for r in runs})
    records = sorted({", ".join(f"{k} {v}" for k, v in rec.items() if v is not None)
                      for rec in (r.summary.get("machine") for r in runs) if isinstance(rec, dict) and rec})
    parts = [f"device {', '.join(devices) or '?'}",
             f"{', '.join(map(str, worlds)) or 1} process{'es' if worlds and max(worlds) > 1 else ''} per run",
             f"torch threads per run: {', '.join(threads) or '?'}"]
    return "; ".join(parts + (records or ["hardware not recorded in the runs' summaries"]))


def selection_note(runs) -> str | None:
    """Where the runs chose among settings: classification runs made before the validation split
    (no `data.val_split` in their config), or with it 0, selected on the test set, so an lr or
    alpha0 picked by them was picked on the numbers reported."""
    old = [r for r in runs if r.key("task.name") in (None, "classify")
           and (not r.has_key("data.val_split") or r.key("data.val_split") == 0)]
    if not old:
        return None
    every = len(old) == len(runs)
    return (f"**Selected on the test set.** {'These' if every else f'{len(old)} of these'} runs predate the "
            f"validation split (`data.val_split`) or ran without one: they selected on the held-out test set, so any lr or alpha0 "
            f"chosen here was chosen on the numbers reported. Re-running the study selects on validation.")


def _summaries(runs_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs_dir.rglob("summary.json"))]


def write_readme(study: Study, result: "ReportResult", command: str, sweep_time_s: float,
                 exit_codes: dict[str, int]) -> Path:
    cfg = study.cfg
    summaries = _summaries(study.runs_dir)
    statuses: dict[str, int] = {}
    for s in summaries:
        statuses[s.get("status")] = statuses.get(s.get("status"), 0) + 1
    run_time = sum(s.get("wall_time_s") or 0 for s in summaries)
    vers = next((s["versions"] for s in summaries if s.get("versions")), {})
    commits = sorted({str((s.get("versions") or {}).get("git")) for s in summaries})
    scale = cfg["scales"][study.scale]
    lines = [f"# Study `{study.name}` ({study.scale} scale)", "", f"**Claim.** {cfg.get('claim', '').strip()}", ""]
    if cfg.get("paper"):
        lines += ["## The paper's numbers", "", cfg["paper"].strip(), ""]
    lines += ["## Ours", "", result.markdown.strip(), ""]
    # a variant added to the study after its runs were made is said to be missing, not hidden
    listed = [k for k in cfg["variants"] if scale.get("variants") is None or k in scale["variants"]]
    ran = {r.config.get("variant") for r in result.runs}
    unrun = [k for k in listed if k not in ran]
    if unrun:
        lines += [f"Not run yet (no run folders): {', '.join(f'`{k}`' for k in unrun)}; "
                  f"`python sweep.py study={study.name} study.scale={study.scale}` runs them "
                  f"(the finished runs are kept) and rebuilds this page.", ""]
    lines += [f"![{p.stem}]({p.relative_to(study.out).as_posix()})" for p in result.figures]
    lines += ["", "## Verdict", ""]
    metric = (cfg.get("report") or {}).get("metric")
    cmp = compare_for(study.name, cfg.get("margin"), metric)
    if cmp is not None:
        lines += [f"Judged on {cmp.rule()}"
                  + (" (this study's `margin`)" if cfg.get("margin") is not None else " (the default)")
                  + ": a difference is its 90 % t-interval, paired by seed where both sides share 3 or more "
                  "seeds; \"beats\" needs the interval above 0, \"matches\" needs it inside the margin; fewer "
                  "than 3 runs a side, or a best lr/alpha0 at the edge of its grid, is inconclusive."
                  + ("" if cmp.higher else " A difference \"A - B\" is signed so that positive means A is better (lower)."),
                  ""]
    selection = selection_note(result.runs)
    if selection:
        lines += [selection, ""]
    lines += [f"- **{claim}: {verdict}.** {why}" for claim, verdict, why in verdicts(study.name, result, cfg.get("margin"), metric)]
    notes = study.out / "NOTES.md"
    if notes.exists():  # the discussion a person wrote after reading the numbers
        lines += ["", notes.read_text().strip()]
    # a user's study.out or hydra.sweep.dir (runs outside out/runs): the rebuild commands name them
    elsewhere = (f" study.out={study.shown(study.out)}" if cfg.get("out") else "") + \
        (f" hydra.sweep.dir={study.shown(study.sweep_dir)}" if study.sweep_dir is not None else "")
    rebuild = (f"{study.shown(study.runs_dir)} --out {study.shown(study.out)}" if study.sweep_dir is not None
               else study.shown(study.out))
    lines += ["", "## How it was made", "", "```bash", command, "```", "",
              f"- Rebuild this README, table and figures from the run folders alone: "
              f"`python sweep.py study={study.name} study.scale={study.scale}{elsewhere} --report` "
              f"(or just the table and figures: `python -m normbench.report {rebuild}`).",
              f"- Recipe, every run: `{' '.join(effective(cfg.get('common', []) + scale.get('overrides', [])))}`",
              f"- Grid: `{' '.join(scale.get('grid', [])) or '-'}`, seeds {scale.get('seeds', [0])}",
              "- Variants: " + "; ".join(f"`{k}`: `{' '.join(cfg['variants'][k])}`"
                                         + (" (not run yet)" if k in unrun else "") for k in listed),
              f"- Runs: {len(summaries)} ({', '.join(f'{v} {k}' for k, v in sorted(statuses.items()))}); "
              f"run wall time {run_time / 60:.1f} min in all"
              + (f"; this invocation {sweep_time_s / 60:.1f} min" if exit_codes else ""),
              f"- Versions: {', '.join(f'{k} {v}' for k, v in vers.items())}"
              + (f" ({len(commits)} code versions across runs: {', '.join(commits)})" if len(commits) > 1 else ""),
              f"- Machine: {machine(result.runs)}"]
    failed = [v for v, code in exit_codes.items() if code]
    if failed:
        lines.append(f"- Variants with failed jobs in this invocation: {', '.join(failed)} (see their train.log)")
    path = study.out / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
