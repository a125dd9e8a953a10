"""One exception tree for the whole kit, in the manner of httpx.

Every error raised on purpose derives from :class:`ClusterError`. The CLI catches exactly that
class, prints it as one line (or one line per problem) and exits with the class's
``exit_code``; anything else is a bug and keeps its traceback.

>>> from cluster.errors import Location, Problem, SpecError
>>> err = SpecError([Problem(Location("spec.yaml", 7), "priority 100 is taken",
...                          fix="use 50 for the backup")])
>>> print(err)
spec.yaml:7: error: priority 100 is taken (fix: use 50 for the backup)
>>> err.exit_code
3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in an input file; line numbers start at 1, line 0 means "the file as a whole"."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, with where it is and how to fix it.

    Spec validation and the keepalived.conf linter both report these, so that the CLI, the
    notebooks and the tests show every kind of finding the same way.
    """

    location: Location
    message: str
    fix: str = ""
    severity: Severity = "error"
    code: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class ClusterError(Exception):
    """Base of every error the kit raises on purpose; the CLI turns it into a clean exit."""

    exit_code = 1


class UsageError(ClusterError):
    """A command-line argument is wrong: a missing file, a node not in the spec, bad values."""

    exit_code = 2


class InputError(ClusterError):
    """An input file is wrong; carries every problem found, each with its file:line and fix.

    Raised with all problems at once, so that an operator fixes a spec in one pass rather than
    one error per run.
    """

    exit_code = 3

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.location)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(InputError):
    """The cluster spec (YAML) cannot be loaded or does not describe a sound cluster."""


class ConfigSyntaxError(InputError):
    """A keepalived.conf cannot be read at all: a missing main file, or bytes that are not text.

    Mistakes keepalived itself tolerates (an unclosed block, a stray brace, an unknown
    keyword, a missing include) are lint findings rather than this error, because keepalived
    starts with them and the operator needs to see what it would do.
    """


class ToolError(ClusterError):
    """An external program the kit drives (keepalived, nft, ipvsadm, ...) is missing or failed."""

    exit_code = 4


class ProbeError(ClusterError):
    """A probe got no usable answer: refused, unreachable, timed out, TLS failed, or empty.

    Kept apart from :class:`ToolError` because the fault is in the server being probed, not
    in the kit's tools; ``genhash`` itself prints such failures and still exits 0, which
    hides a dead real server from a script, so ``cluster genhash`` exits with this code.
    """

    exit_code = 5

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        """The cause alone ("refused", "timeout after 5 s connecting"), for a verdict that
        already names the endpoint."""


class ApplyError(ClusterError):
    """A change to a director failed, or its state could not be read; ``step`` says which.

    The message starts with the step (``add dest TCP 192.0.2.1:80 -> 10.0.0.5:80 ...``) so an
    operator knows where an apply stopped without reading a traceback.
    """

    exit_code = 7

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class LabError(ClusterError):
    """The lab could not be built, reached or torn down: no guest kernel, a dead agent, a timeout.

    Separate from :class:`ToolError` because the remedy differs: a lab error is fixed with
    ``cluster lab down`` and another ``lab up``, not by installing or reconfiguring a program.
    """

    exit_code = 6
