"""``robustune bench``: run a benchmark matrix from a YAML config; write results.json and report.html."""

from __future__ import annotations

from .common import add_progress_argument, info


def add_parser(sub):
    p = sub.add_parser("bench", help="compare methods side by side (with peers and attacks) in one report",
                       description="Run the methods × datasets × settings × seeds matrix of a YAML config "
                       "(see bench/quick.yaml), plus peers and attacks on the trained models. Every cell is "
                       "saved under --output with a done marker; --resume skips finished cells. Writes "
                       "OUTPUT/results.json and OUTPUT/report.html (one self-contained page).")
    p.add_argument("--config", help="the bench's YAML file (required unless --report-only)")
    p.add_argument("--output", help="bench folder: one sub-folder per cell, results, report (required but with "
                   "--studies)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted bench in --output, skipping "
                   "finished cells")
    p.add_argument("--report-only", action="store_true", help="run nothing: rebuild results.json and "
                   "report.html from the finished cells in --output")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables into FILE (e.g. BENCHMARKS.md), "
                   "replacing only this bench's marked section")
    p.add_argument("--studies", metavar="DIR", help="run nothing: write the whole --markdown file (BENCHMARKS.md) "
                   "from the studies committed in DIR (bench/results: index.yaml and one folder per study)")
    p.add_argument("--inline", action="store_true", help="run cells in this process instead of one process "
                   "each (debugging; the peak-memory figure then is this process's)")
    add_progress_argument(p)
    return p


def run(args) -> int:
    from ..bench import collect, load_config, run_bench, update_markdown
    from ..bench.report import write_report
    from ..errors import RobustuneError

    if args.studies:
        from ..bench.studies import write_markdown

        if args.config or args.resume or args.report_only or args.output or not args.markdown:
            raise RobustuneError("--studies DIR --markdown FILE runs nothing else: drop --config, --output, "
                                 "--resume and --report-only")
        write_markdown(args.studies, args.markdown)
        info(f"wrote {args.markdown} from {args.studies}")
        return 0
    if not args.output:
        raise RobustuneError("--output is required")
    if args.report_only:
        if args.config or args.resume:
            raise RobustuneError("--report-only runs nothing: drop --config and --resume")
        results = collect(args.output)
        write_report(f"{args.output}/report.html", results, args.output)
    else:
        if not args.config:
            raise RobustuneError("--config is required (or pass --report-only)")
        config = load_config(args.config)
        results = run_bench(config, args.output, resume=args.resume,
                            isolation="inline" if args.inline else "process", progress=args.progress)
    if args.markdown:
        command = f"robustune bench --config {results['config']} --output {args.output}"
        update_markdown(args.markdown, results, command)
        info(f"updated the '{results['bench']}' section of {args.markdown}")
    info(f"{results['finished_cells']} of {results['total_cells']} cells finished; wrote {args.output}/results.json "
         f"and {args.output}/report.html")
    return 0
