"""Rewrite the `--help` blocks of docs/cli.md from the parser itself: ``python tools/cli_help.py``.

Each ``### `spikekit CMD` `` section of the page holds one ```text block with that subcommand's help as
argparse prints it at 100 columns; tests/test_docs.py checks that the page still matches (so a changed option
fails the suite until this script is run).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
SECTION = re.compile(r"(^### `(spikekit(?: \w+)?)`\n\n```text\n)(.*?)(^```)", flags=re.DOTALL | re.MULTILINE)


def help_texts() -> dict[str, str]:
    """``{"spikekit": ..., "spikekit train": ..., ...}``: every command's help at 100 columns."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page is written for 100
    from spikekit.cli import build_parser

    parser = build_parser()
    texts = {"spikekit": parser.format_help()}
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in action.choices.items():
        texts[f"spikekit {name}"] = sub.format_help()
    return texts


def render(page: str, texts: dict[str, str]) -> str:
    """``page`` with each help section's block replaced by ``texts`` of its command."""
    return SECTION.sub(lambda m: m.group(1) + texts[m.group(2)] + m.group(4), page)


if __name__ == "__main__":
    PAGE.write_text(render(PAGE.read_text(), help_texts()))
    print(f"wrote {PAGE}")
