"""What every ``cluster`` subcommand shares: the parser class, exit codes, argument types."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings; for check: every server up)
  1  lint found error-level problems; check found a real server down; status: not healthy
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
  5  a probe got no usable answer (refused, timeout, TLS failure, empty response)
  6  the lab could not be built, reached or torn down
  7  a change to the system failed or its state could not be read; the step is named
"""

Command = Callable[[argparse.Namespace], int]
Subcommands = argparse._SubParsersAction  # argparse has no public name for it


class Parser(argparse.ArgumentParser):
    """Bad usage as one line naming the fix, not argparse's usage block plus the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(
    commands: Subcommands, name: str, run: Command | None, help: str, description: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes; ``run`` is None for a group."""
    sub = commands.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if run is not None:
        sub.set_defaults(run=run)
    return sub


def add_spec_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "spec", nargs="?", metavar="SPEC",
        help="cluster spec (YAML); default: the built-in seed cluster",
    )  # fmt: skip


def add_node_argument(sub: argparse.ArgumentParser, help: str = "director to render for") -> None:
    sub.add_argument("--node", metavar="DIRECTOR", required=True, help=help)


def ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"server should be an IP address, not {text!r}") from None


def port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: want 1-65535")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: want seconds > 0")
    return value


def url_path(text: str) -> str:
    # The url goes verbatim into the request line, so whitespace would forge another request.
    if not text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"invalid url {text!r}: want a path without spaces")
    return text


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: want a whole number >= 1")
    return int(text)


def progress(message: str) -> None:
    """Long work (a guest boot, a benchmark) reports each step on stderr as it starts."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def write_json(data: Any, output: Path | None) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
