"""``python -m wscli.docgen --write | --check``: regenerate or verify the generated docs.

``--check`` exits 1 and prints a unified diff when a committed file differs from what the
click definitions produce now (run ``--write`` and commit the result).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wscli.docgen.files import REPO, check, write


def _warn(message: str) -> None:
    print(f"docgen: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m wscli.docgen",
        description="Generate wscli's man pages, shell completions and docs/reference.md.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated files")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff on drift")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root")
    args = parser.parse_args(argv)
    if args.write:
        for rel in write(args.repo, _warn):
            print(f"wrote {rel}", file=sys.stderr)
        return 0
    diff = check(args.repo, _warn)
    if diff:
        sys.stdout.write(diff)
        print(
            "docgen: generated files are out of date; run: python -m wscli.docgen --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
