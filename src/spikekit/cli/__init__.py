"""Command line: ``spikekit train | eval | encode | export | import | predict | report``.

The only place that prints or writes files.

Every user error (bad argument, unreadable data, broken checkpoint) ends as one line on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from spikekit.allocator import keep_freed_memory
from spikekit.cli import inspect, interop, report, train
from spikekit.errors import SpikekitError

USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        self.exit(USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spikekit", description="Train and inspect spiking neural networks on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (train, inspect, interop, report):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # the CLI owns the process: see spikekit.allocator
    # A library warning (a dataset without some labels...) reads as one line, like the errors below.
    warnings.formatwarning = lambda message, category, *_: f"spikekit {args.command}: warning: {message}\n"
    try:
        return args.run(args) or 0
    except SpikekitError as error:
        print(f"spikekit {args.command}: error: {error}", file=sys.stderr)
        return USER_ERROR
    except OSError as error:  # unwritable directory, full disk...: the OS's reason, on one line
        print(f"spikekit {args.command}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print(f"spikekit {args.command}: interrupted", file=sys.stderr)
        return 130
