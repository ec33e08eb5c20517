"""``robustune bench``: methods × datasets × settings × seeds, with peers and attacks, as one report.

``load_config`` reads a YAML bench (config.py), ``expand`` makes its cells (matrix.py), ``run_bench``
runs each cell as a saved folder with a done marker, resumable (runner.py, worker.py, peers.py),
``collect`` writes ``results.json`` (results.py), ``write_report`` the self-contained
``report.html`` (report.py) and ``update_markdown`` a marked section of a Markdown file (markdown.py).
BENCHMARKS.md is generated whole from the studies committed under ``bench/results/`` (studies.py;
old scripts' raw files are read by legacy.py): ``robustune bench --studies bench/results --markdown
BENCHMARKS.md``.
"""

from .config import BenchConfig, load_config, parse_config
from .markdown import update_markdown
from .matrix import Cell, expand
from .results import aggregate, collect, mean_std
from .runner import run_bench

__all__ = ["BenchConfig", "load_config", "parse_config", "Cell", "expand", "run_bench", "collect", "aggregate",
           "mean_std", "update_markdown"]
