"""Summarise a bench/three_phase.py log over seeds: mean ± std per configuration, and paired by seed.

Every configuration of one seed is trained on the same sample and scored on the same test rows, so
the per-seed difference from vanilla is the fair comparison; the paired t-test over seeds
(`scipy.stats.ttest_rel`) says how far that difference is from seed noise.

    python bench/three_phase_summary.py bench/results/three_phase_sst2_4000.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy import stats

from robustune.bench.report import fmt
from robustune.bench.results import mean_std

PHASES = ("dae", "cl", "joint", "fine-tune")  # the order of `phase_walls` in a log row


def _mean_std(values: list[float], signed: bool = False) -> str:
    stat = mean_std(values)  # the project's own aggregate and format, at two decimals on values already in %
    return ("+" if signed and stat["mean"] > 0 else "") + fmt(stat, scale=1.0, digits=2)


def summarise(rows: list[dict], baseline: str = "vanilla") -> str:
    """Two Markdown tables: per configuration over its seeds, then each against ``baseline``."""
    configs = list(dict.fromkeys(r["config"] for r in rows))  # in the order they were run
    by = {(r["config"], r["seed"]): r for r in rows}
    lines = [
        "| config | seeds | accuracy % | macro-F1 % | per seed, accuracy % (rows right) "
        "| phase wall s, mean (" + " / ".join(PHASES) + ") | total s, mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        runs = sorted((r for r in rows if r["config"] == config), key=lambda r: r["seed"])
        acc = [100 * r["accuracy"] for r in runs]
        f1 = [100 * r["macro_f1"] for r in runs]
        per_seed = " / ".join(f"{a:.2f}" for a in acc)
        right = " / ".join(str(round(r["accuracy"] * r["eval_n"])) for r in runs)
        walls = []
        for k in range(len(PHASES)):
            w = [r["phase_walls"][k] for r in runs if r["phase_walls"][k] is not None]
            walls.append(f"{statistics.mean(w):.0f}" if w else "-")
        total = statistics.mean(r["total_s"] for r in runs)
        lines.append(
            f"| {config} | {', '.join(str(r['seed']) for r in runs)} | {_mean_std(acc)} | {_mean_std(f1)} "
            f"| {per_seed} ({right}) | {' / '.join(walls)} | {total:.0f} |"
        )
    lines += [
        "",
        f"| config | Δ accuracy vs {baseline}, per seed (points) | mean ± std | seeds above {baseline} "
        "| paired t, two-sided p |",
        "|---|---|---|---|---|",
    ]
    for config in configs:
        if config == baseline:
            continue
        seeds = sorted(s for c, s in by if c == config and (baseline, s) in by)
        if not seeds:
            continue
        ours = [100 * by[(config, s)]["accuracy"] for s in seeds]
        base = [100 * by[(baseline, s)]["accuracy"] for s in seeds]
        delta = [a - b for a, b in zip(ours, base)]
        test = "-"
        if len(seeds) > 1 and statistics.stdev(delta) > 0:
            t = stats.ttest_rel(ours, base)
            test = f"t = {t.statistic:.2f}, p = {t.pvalue:.2f}"
        lines.append(
            f"| {config} | {' / '.join(f'{d:+.2f}' for d in delta)} | {_mean_std(delta, signed=True)} "
            f"| {sum(d > 0 for d in delta)} of {len(delta)} | {test} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="JSON-lines log written by bench/three_phase.py --log")
    parser.add_argument("--baseline", default="vanilla", help="configuration the others are paired with")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{args.log}: no runs logged")
    print(f"{args.log}: {len(rows)} runs, test rows {sorted({r['eval_n'] for r in rows})}\n")
    print(summarise(rows, args.baseline))


if __name__ == "__main__":
    main()
