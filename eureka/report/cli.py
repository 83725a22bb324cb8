"""``eureka-report``: one run -> ``<run>/report.html``; several runs (or a multirun dir) -> a comparison page.

    eureka-report outputs/cartpole/2026-11-25_10-00-00
    eureka-report multirun/2026-11-25_10-00-00 -o compare.html
    eureka-report runA runB runC -o compare.html

With several runs it also prints (and writes as ``sweep.json`` / ``sweep.md``, into the multirun
directory or next to the page) the statistics over runs: per group of runs that differ only in
their seed, the IQM of the final fitness, the search fitness and the human-normalized score, with
95% bootstrap intervals (``eureka.report.sweep``). A Hydra multirun writes this report by itself
when it ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eureka-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories (or a multirun directory holding several)")
    parser.add_argument("-o", "--output", default=None,
                        help="where to write the page (one run: <run>/report.html; several: "
                             "./eureka-comparison.html)")
    parser.add_argument("--no-tensorboard", action="store_true", help="do not (re)write <run>/tb_run/")
    parser.add_argument("--each", action="store_true",
                        help="with several runs, also write each run's own report.html (linked from the table)")
    args = parser.parse_args(argv)

    from eureka.report.html import write_comparison, write_report
    from eureka.report.rundata import find_runs

    runs = find_runs(args.runs)
    try:
        if len(runs) == 1:
            path = write_report(runs[0], out=args.output, tensorboard=not args.no_tensorboard)
        else:
            if args.each:
                for r in runs:
                    write_report(r, tensorboard=not args.no_tensorboard)
            path = write_comparison(runs, Path(args.output or "eureka-comparison.html"))
            from eureka.report.sweep import write_sweep_report

            sweep_dir = Path(args.runs[0]) if len(args.runs) == 1 else path.parent
            md, text = write_sweep_report(sweep_dir, runs)
            print(f"{len(runs)} runs; statistics over runs (also in {md}):\n{text}")
    except FileNotFoundError as exc:
        print(f"eureka-report: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path.resolve()}  (open it in a browser: file://{path.resolve()})")
    return 0


def entry() -> None:
    """Console entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
