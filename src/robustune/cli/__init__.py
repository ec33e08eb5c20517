"""The ``robustune`` command: one module per sub-command, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import sys

from ..errors import RobustuneError
from . import attack, bench, data, evaluate, mlm, poison, predict, scan, train

COMMANDS = [train, evaluate, predict, attack, mlm, poison, scan, bench, data]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustune",
        description="Robust fine-tuning of transformer text classifiers, and robustness measurement.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"robustune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except RobustuneError as err:
        # A mistake in the user's input: the message says what and where; no traceback.
        print(f"robustune {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"robustune {args.command}: interrupted", file=sys.stderr)
        return 130
