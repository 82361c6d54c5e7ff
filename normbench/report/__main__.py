"""python -m normbench.report <folders...> [--out DIR] [--study study.yaml] [--wandb MODE]

Run folders (or study folders holding them) -> table.md, table.csv, runs.csv and the
figures in --out (default: the first folder), the markdown table printed to stdout.
A bad folder or spec prints one line naming it and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from normbench.errors import InputError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m normbench.report", description=__doc__.split("\n\n")[1])
    p.add_argument("folders", nargs="+", type=Path, help="run folders, or folders searched for them (summary.json)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the first folder)")
    p.add_argument("--study", type=Path, default=None,
                   help="a study YAML with a report: mapping (default: <folder>/study.yaml, else val/acc1 by variant)")
    p.add_argument("--wandb", choices=("offline", "online", "disabled"), default=None,
                   help="also log the report as a wandb run in the study's group (default: no wandb)")
    p.add_argument("--study-name", default=None, help="the wandb group (default: the output folder's name)")
    p.add_argument("--project", default="normbench", help="wandb project (default: normbench)")
    p.add_argument("--entity", default=None, help="wandb entity")
    args = p.parse_args(argv)

    from normbench.report.study_report import report

    try:
        result = report(args.folders, out_dir=args.out, spec=args.study)
        print(result.markdown, end="")
        for path in result.figures:
            print(f"figure: {path}")
        print(f"tables: {result.table_md}, {result.table_csv}, {result.runs_csv}")
        if args.wandb:
            from normbench.report.wandb_report import log_report_to_wandb

            name = args.study_name or result.out_dir.resolve().name
            run_id = log_report_to_wandb(result, name, mode=args.wandb, project=args.project, entity=args.entity)
            print(f"wandb ({args.wandb}): report run {run_id} in group {name}")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
