"""`vidrestore` command line: one sub-command per module in `vidrestore/commands/`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``main(args) -> int``. User mistakes raise :class:`vidrestore.errors.VidrestoreError`
and are reported here as one line on stderr with exit code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["run", "info", "compare", "eval", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidrestore",
        description="Neural video restoration (LP-VAE latent -> latent DiT -> temporal pixel-aware decoder).",
    )
    from vidrestore import __version__

    parser.add_argument("--version", action="version", version=f"vidrestore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"vidrestore.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    from vidrestore.errors import VidrestoreError

    args = build_parser().parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except VidrestoreError as e:
        print(f"vidrestore {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vidrestore {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
