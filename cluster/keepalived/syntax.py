"""Read a keepalived.conf the way keepalived 2.2.7 reads it, into a tree of :class:`Node`.

keepalived's grammar is looser than it looks, and a linter is only useful if it sees what
keepalived sees. So this parser copies keepalived's reader (lib/parser.c), quirks included:

* ``!`` and ``#`` start a comment anywhere outside double quotes; ``"a b"`` is one word.
* ``{`` and ``}`` split a line wherever they stand, even glued to a word: ``global_defs{``
  and ``notification_email { a@b }`` both work.
* What a ``{`` opens depends on the keyword before it. A known block keyword opens its
  sub-level; a list keyword (``virtual_ipaddress``) reads raw lines up to the first ``}``; after
  an unknown keyword keepalived ignores the ``{``, so the lines that follow land in the
  *enclosing* block and its ``}`` closes that block. Unknown keywords are reported, not kept.
* An unclosed block is closed at the end of input; a ``}`` at the top level is reported and
  skipped. Neither stops keepalived, so neither raises: both become :attr:`ConfigTree.problems`.
* ``include`` takes a glob relative to the including file's directory; ``@id`` conditional
  lines, ``$NAME=value`` definitions and ``~SEQ(...)`` are expanded.

Only unreadable input raises, and always as :class:`~cluster.errors.ConfigSyntaxError`.

>>> tree = parse_text('''
... global_defs { router_id lb1 }   ! a comment
... vrrp_instance VI_1 {
...     state BACKUP
...     priority 100
...     virtual_ipaddress {
...         192.168.0.174/24 dev eth0
...     }
... }
... ''', "keepalived.conf")
>>> vi = tree.find("vrrp_instance")
>>> vi.args, vi.find("priority").arg(0), vi.location
(('VI_1',), '100', Location(file='keepalived.conf', line=3))
>>> [(n.keyword, n.args) for n in vi.find("virtual_ipaddress").children]
[('192.168.0.174/24', ('dev', 'eth0'))]
>>> tree.find("global_defs").find("router_id").args
('lb1',)

Mistakes keepalived tolerates come back as problems, with the line keepalived reports:

>>> tree = parse_text("virtual_server 10.0.0.1 80 {\\n  nat_mask 255.255.255.0\\n")
>>> for problem in tree.problems:
...     print(problem.code, problem.location.line)
unknown-keyword 2
unclosed-block 1
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cluster.errors import ConfigSyntaxError, Location, Problem, Severity
from cluster.keepalived.keywords import GRAMMAR, LIST, REMOVED, TOP, VALUE

MAX_INCLUDE_DEPTH = 32
"""keepalived nests includes until it runs out of file descriptors; we stop well before."""

MAX_EXPANSIONS = 1_000_000
"""Cap on lines made by ``~SEQ`` and ``$`` expansion. keepalived has none; a typo such as
``~SEQ(i, 1, 100000000)`` would make lint take minutes, so past this many lines lint stops
expanding, says so, and checks none of the lines it did not make."""

MAX_SUBSTITUTIONS = 5000
"""Rounds of ``$`` substitution on one line; definitions that refer to each other in a
circle would otherwise never stop (keepalived stops when the line grows past MAXBUF)."""

MAX_LINE = 1024
"""keepalived's MAXBUF: it reads at most 1023 bytes of a line at a time, and refuses a ``$``
substitution that would make a longer line."""

MAX_FILE_BYTES = 64 * 2**20
"""Files larger than this are refused: a keepalived.conf is kilobytes, and reading a huge
file (or ``/dev/zero``) whole would exhaust memory."""

_WHITESPACE = " \t\f\n\r\v"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"\$(?:\{{({_NAME})\}}|({_NAME})(?=[ \t,)]|$))")
_DEFINITION = re.compile(rf"\$({_NAME})=[ \t]*(.*)")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
"""Bytes that are not UTF-8, as Python's surrogateescape decoding keeps them."""
_SEQ = re.compile(r"~SEQ(x?)[ \t]*\([ \t]*([^ \t,)]+)[ \t]*,([^)]*)\)[ \t]*(.*)")


@dataclass(frozen=True)
class Node:
    """One keyword line; ``children`` is None unless the keyword opens a ``{ }`` block."""

    keyword: str
    args: tuple[str, ...]
    children: tuple[Node, ...] | None
    location: Location
    end: Location | None = None
    """The line of the block's closing '}', where keepalived's end-of-block checks report."""

    def find(self, keyword: str) -> Node | None:
        """The first child with this keyword, the usual way to read a setting."""
        return next(iter(self.find_all(keyword)), None)

    def find_all(self, keyword: str) -> tuple[Node, ...]:
        return tuple(child for child in self.children or () if child.keyword == keyword)

    def arg(self, index: int, default: str = "") -> str:
        """An argument that may be missing, as keepalived's handlers tolerate few of those."""
        return self.args[index] if index < len(self.args) else default


@dataclass
class ConfigTree:
    """What keepalived would take from a file, plus what it would complain about."""

    nodes: tuple[Node, ...]
    problems: tuple[Problem, ...] = ()
    files: tuple[str, ...] = ()

    def find(self, keyword: str) -> Node | None:
        return next(iter(self.find_all(keyword)), None)

    def find_all(self, keyword: str) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if node.keyword == keyword)


@dataclass(frozen=True)
class _Line:
    """A logical line: a keyword line, a lone brace, or a list entry, after preprocessing."""

    text: str
    location: Location


def _decomment(text: str) -> str:
    """Strip a comment and surrounding blanks as keepalived's decomment() does.

    ``\\#`` and ``\\!`` outside quotes are literal characters; a trailing backslash survives,
    because it continues a multi-line ``$`` definition.
    """
    out: list[str] = []
    quoted = False
    i = 0
    text = text.lstrip(" \t")
    while i < len(text):
        char = text[i]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and i + 1 < len(text):
            if not quoted and text[i + 1] in "#!":
                char = text[i + 1]
            else:
                out.append(char)
                char = text[i + 1]
            i += 1
        elif char in "!#" and not quoted:
            break
        out.append(char)
        i += 1
    return "".join(out).rstrip(" \t")


def _brace_position(text: str) -> int:
    """Index of the first ``{`` or ``}`` outside double quotes, or -1."""
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "{}" and not quoted:
            return i
    return -1


def _tokens(text: str) -> tuple[tuple[str, ...], bool]:
    """Split a logical line into words; the flag is False if a quote is left open."""
    words: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        if i == len(text):
            return tuple(words), True
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return tuple(words), False
            words.append(text[i + 1 : end])
            i = end + 1
        else:
            start = i
            while i < len(text) and text[i] not in _WHITESPACE + '"':
                i += 1
            words.append(text[start:i])


@dataclass
class _Definition:
    value: str
    multiline: bool = False


@dataclass
class _Reader:
    """Turns files into logical lines: comments, conditionals, ``$``, ``~SEQ``, includes, braces."""

    config_id: str | None
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    definitions: dict[str, _Definition] = field(default_factory=dict)
    open_files: list[str] = field(default_factory=list)
    collecting: _Definition | None = None
    """A multi-line ``$NAME=... \\`` definition still taking lines."""
    expansions: int = 0
    noted: set[str] = field(default_factory=set)

    def report(
        self,
        location: Location,
        code: str,
        message: str,
        fix: str = "",
        severity: Severity = "error",
    ) -> None:
        self.problems.append(Problem(location, message, fix, severity, code))

    def note_once(self, location: Location, code: str, message: str) -> None:
        """An info problem reported once per tree, for features we only partly model."""
        if code not in self.noted:
            self.noted.add(code)
            self.report(location, code, message, severity="info")

    def text_lines(self, text: str, filename: str, directory: Path) -> Iterator[_Line]:
        self.files.append(filename)
        self.open_files.append(filename)
        including_directory = self.definitions.get("_PWD")
        self.definitions["_PWD"] = _Definition(str(directory))
        outer, self.collecting = self.collecting, None
        for number, physical in enumerate(text.split("\n"), start=1):
            location = Location(filename, number)
            for raw in self.chunks(physical, location):
                yield from self.chunk_lines(raw.rstrip("\r"), location, directory)
        self.collecting = outer
        self.open_files.pop()
        if including_directory:
            self.definitions["_PWD"] = including_directory

    def chunks(self, physical: str, location: Location) -> list[str]:
        """The pieces keepalived reads a line in: fgets() takes at most 1023 bytes at a time,
        and each piece is a line of its own, comments included (lib/parser.c read_line)."""
        data = physical.encode(errors="surrogateescape")
        if len(data) < MAX_LINE:
            return [physical]
        self.report(
            location,
            "long-line",
            f"line {location.line} has {len(data)} bytes; keepalived reads at most "
            f"{MAX_LINE - 1} at a time and takes the rest as new lines (its child processes "
            "then count the lines after this one one too high)",
            "split the line, or shorten the comment",
            "warning",
        )
        return [
            data[i : i + MAX_LINE - 1].decode(errors="surrogateescape")
            for i in range(0, len(data), MAX_LINE - 1)
        ]

    def chunk_lines(self, raw: str, location: Location, directory: Path) -> Iterator[_Line]:
        """One piece of a physical line, through comments, definitions and expansion."""
        line = self.readable(_decomment(raw), location)
        collecting = self.collecting
        if collecting is not None and not raw:
            self.collecting = None
        elif collecting is not None and line:
            separator = "\n" if collecting.value else ""
            collecting.value += separator + line.removesuffix("\\").rstrip(" \t")
            if not line.endswith("\\"):
                self.collecting = None
        elif line:
            for logical in self.logical_lines(line, location, directory):
                if isinstance(logical, _Definition):
                    self.collecting = logical
                else:
                    yield logical

    def readable(self, line: str, location: Location) -> str:
        """A line with bytes that are not UTF-8 shown as ``\\xe9``, and noted once per file.

        keepalived reads bytes, not text; a Latin-1 comment is fine, and a Latin-1 value is
        used as it is, which is worth a note because other tools may show it differently.
        """
        if not _NOT_UTF8.search(line):
            return line
        if f"not-utf8:{location.file}" not in self.noted:
            self.noted.add(f"not-utf8:{location.file}")
            self.report(
                location,
                "not-utf8",
                f"line {location.line} has bytes that are not UTF-8; keepalived uses them as "
                "they are, lint shows them as \\xNN",
                severity="info",
            )
        return _NOT_UTF8.sub(lambda m: f"\\x{ord(m[0]) - 0xDC00:02x}", line)

    def file_lines(self, path: Path, location: Location) -> Iterator[_Line]:
        name = str(path)
        if os.path.realpath(name) in map(os.path.realpath, self.open_files):
            self.report(
                location,
                "include-loop",
                f"'{name}' includes itself (through {' -> '.join(self.open_files)})",
                "remove the include that leads back to a file already being read",
            )
            return
        if len(self.open_files) >= MAX_INCLUDE_DEPTH:
            self.report(
                location, "include-depth", f"includes nested deeper than {MAX_INCLUDE_DEPTH}"
            )
            return
        try:
            text = read_config(path)
        except _Unreadable as err:
            self.report(location, err.code, f"'{name}': {err}", err.fix, "warning")
            return
        yield from self.text_lines(text, name, path.parent)

    def logical_lines(
        self, line: str, location: Location, directory: Path
    ) -> Iterator[_Line | _Definition]:
        """Run one decommented line through keepalived's read_line() steps, in its order.

        Work is a stack so that brace residues and expansions are handled in file order
        without recursion, however many braces or ``~SEQ`` copies a line produces.
        """
        # (text, a ~SEQ variable to set first, rounds of $ substitution that made the text)
        pending: list[tuple[str, tuple[str, str] | None, int]] = [(line, None, 0)]
        while pending:
            text, assignment, rounds = pending.pop()
            if assignment:
                self.definitions[assignment[0]] = _Definition(assignment[1])
            if text.startswith("@"):
                text = self.conditional(text, location)
            if not text:
                continue
            if definition := _DEFINITION.fullmatch(text):
                name, value = definition.groups()
                multiline = value.endswith("\\")
                entry = _Definition(value.removesuffix("\\").rstrip(" \t"), multiline)
                self.definitions[name] = entry
                if multiline:
                    yield entry
                continue
            if text.startswith(("~SEQ", "~LST")):
                pending.extend((*copy, 0) for copy in reversed(self.sequence(text, location)))
                continue
            if expanded := self.substitute(text, location):
                if rounds >= MAX_SUBSTITUTIONS:
                    self.report(
                        location,
                        "substitution-loop",
                        "$ definitions refer to each other endlessly on this line",
                        "break the cycle of definitions",
                    )
                    continue
                pending.extend((part, None, rounds + 1) for part in reversed(expanded))
                continue
            if include := re.match(r"include[rmwba]?[ \t]+(.*)", text):
                yield from self.include(include.group(1), location, directory)
                continue
            brace = _brace_position(text)
            if brace < 0:
                yield _Line(text, location)
            elif brace == 0:
                yield _Line(text[0], location)
                pending.append((text[1:].lstrip(" \t"), None, rounds))
            else:
                yield _Line(text[:brace].rstrip(" \t"), location)
                pending.append((text[brace:], None, rounds))

    def conditional(self, text: str, location: Location) -> str:
        """Keep an ``@id``/``@^id`` line's text if the config id selects it, else ''."""
        negated = text.startswith("@^")
        selector, _, rest = text[2 if negated else 1 :].partition(" ")
        selector, _, tab_rest = selector.partition("\t")
        rest = (tab_rest + " " + rest if tab_rest else rest).lstrip(" \t")
        self.note_once(
            location,
            "conditional-config",
            f"'@' lines are evaluated for config id {self.config_id!r}; keepalived uses "
            "-i or the host name, so lint once per director",
        )
        return rest if (selector == self.config_id) != negated else ""

    def substitute(self, text: str, location: Location) -> list[str]:
        """Expand ``$NAME``/``${NAME}`` once; [] when nothing is defined there.

        The caller sends the result round again, which gives keepalived's recursive
        expansion; the expansion cap stops a definition that refers to itself.
        """
        if "$" not in text:
            return []
        self.definitions["_INSTANCE"] = _Definition(self.config_id or "")
        self.definitions["_HASH"] = _Definition("#")
        multiline: list[str] = []

        def replace(match: re.Match[str]) -> str:
            definition = self.definitions.get(match.group(1) or match.group(2))
            if definition is None:
                return match.group(0)
            if definition.multiline:
                if match.end() != len(text) or multiline:
                    return match.group(0)
                first, *rest = definition.value.split("\n")
                multiline.extend(rest)
                return first
            return definition.value

        expanded = _REFERENCE.sub(replace, text)
        if "${_RANDOM" in expanded:
            self.note_once(location, "unsupported-random", "${_RANDOM} is not expanded by lint")
        if len(expanded) > MAX_LINE:
            self.report(
                location,
                "substitution-too-long",
                f"substituting parameters would make a line longer than {MAX_LINE} characters; "
                "keepalived leaves the line unexpanded",
            )
            return []
        if expanded == text:
            return []
        if multiline and not all(self.count_expansion(location) for _ in multiline):
            return [""]  # past the cap: drop the line rather than report its '$' as unknown
        return [_decomment(part) for part in (expanded, *multiline)]

    def sequence(self, text: str, location: Location) -> list[tuple[str, tuple[str, str] | None]]:
        """The copies of a ``~SEQ(var, [start,] [step,] end) line``, each with var's value."""
        match = _SEQ.fullmatch(text)
        if text.startswith("~LST") or not match:
            self.report(
                location,
                "unsupported-sequence",
                f"lint does not expand '{text[:40]}'; the lines it would generate are not checked",
                severity="info",
            )
            return []
        hex_format, name, numbers, rest = match.groups()
        numbers = self.substitute(numbers, location)[:1] or [numbers]
        try:
            values = [int(number, 0) for number in numbers[0].split(",")]
            end = values[-1]
            start = values[0] if len(values) > 1 else (-1 if end < 0 else 1)
            step = values[1] if len(values) == 3 else (1 if start <= end else -1)
            if len(values) > 3 or step == 0 or (end - start) * step < 0:
                raise ValueError(numbers)
        except ValueError:
            self.report(location, "invalid-sequence", f"invalid ~SEQ specification '{text}'")
            return []
        copies = []
        for value in range(start, end + (1 if step > 0 else -1), step):
            if not self.count_expansion(location):
                break
            copies.append((rest, (name, f"{value:x}" if hex_format else str(value))))
        return copies

    def count_expansion(self, location: Location) -> bool:
        self.expansions += 1
        if self.expansions <= MAX_EXPANSIONS:
            return True
        if "expansion-limit" not in self.noted:
            self.noted.add("expansion-limit")
            self.report(
                location,
                "expansion-limit",
                f"~SEQ and $ expansion made more than {MAX_EXPANSIONS:,} lines; lint stopped "
                "expanding there and does not check the lines it did not make (keepalived "
                "expands them all)",
                "check that the ~SEQ bounds are what you meant",
                "warning",
            )
        return False

    def include(self, pattern: str, location: Location, directory: Path) -> Iterator[_Line]:
        """Read every file an ``include`` glob matches, relative to the including file.

        keepalived logs a missing file but carries on, and says nothing when a wildcard
        matches nothing; both are worth knowing, so they become a warning and an info.
        """
        if "{" in pattern:
            self.note_once(
                location, "unsupported-include-braces", "lint does not expand {a,b} in includes"
            )
        try:
            matches = sorted(glob.glob(os.path.join(directory, pattern)))
        except (OSError, ValueError):
            matches = []
        if not matches:
            wildcard = glob.has_magic(pattern)
            self.report(
                location,
                "include-no-match" if wildcard else "include-missing",
                f"include '{pattern}' matches no file"
                if wildcard
                else f"config file missing '{pattern}'",
                "create the file or correct the path (relative to this file's directory)",
                "info" if wildcard else "warning",
            )
        for path in matches:
            yield from self.file_lines(Path(path), location)


@dataclass
class _Frame:
    """An open block while parsing; remembers '{'s keepalived ignored inside it."""

    block: str
    keyword: str
    location: Location
    ignored_braces: list[Location] = field(default_factory=list)


class _Parser:
    """keepalived's process_stream(): keywords looked up level by level in :data:`GRAMMAR`."""

    def __init__(self, lines: Iterator[_Line], reader: _Reader) -> None:
        self.lines = lines
        self.reader = reader
        self.open_braces: list[tuple[Location, str]] = []
        self.previous = ""
        self.extra_close = False

    def next_words(self) -> tuple[tuple[str, ...], Location] | None:
        """The next non-empty logical line as words, keeping keepalived's brace count."""
        for line in self.lines:
            words, closed = _tokens(line.text)
            if not closed:
                self.reader.report(
                    line.location,
                    "unmatched-quote",
                    f"unmatched quote: '{line.text}'",
                    'close the string with "',
                )
            self.extra_close = line.text == "}" and not self.open_braces
            if line.text == "{":
                self.open_braces.append((line.location, self.previous))
            elif line.text == "}" and self.open_braces:
                self.open_braces.pop()
            elif self.extra_close:
                self.reader.report(
                    line.location,
                    "extra-brace",
                    "'}' closes nothing (keepalived: Extra '}' found)",
                    "delete this '}' or add the '{' it was meant to close",
                )
            if words:
                self.previous = words[0]
                return words, line.location
        return None

    def block(self, frame: _Frame, need_brace: bool) -> tuple[tuple[Node, ...], Location | None]:
        """The nodes of one block, and the line of the '}' that closed it (None at the end)."""
        nodes: list[Node] = []
        while (line := self.next_words()) is not None:
            words, location = line
            keyword = words[0]
            if need_brace:
                need_brace = False
                if keyword == "{":
                    continue
                self.reader.report(
                    location,
                    "missing-brace",
                    f"missing '{{' after {frame.keyword} (line {frame.location.line}); "
                    "keepalived reads on as if it were there",
                    f"put '{{' at the end of line {frame.location.line}",
                )
            elif keyword == "{":
                frame.ignored_braces.append(location)
                continue
            if keyword == "}" and frame.block != TOP:
                self.close(frame, location)
                return tuple(nodes), location
            if node := self.node(frame, words, location):
                nodes.append(node)
        self.close(frame, None)
        return tuple(nodes), None

    def node(self, frame: _Frame, words: tuple[str, ...], location: Location) -> Node | None:
        keyword, args = words[0], words[1:]
        kind = GRAMMAR[frame.block].get(keyword)
        if kind is None:
            if not self.extra_close:
                self.unknown(frame, keyword, location)
            return None
        if kind == VALUE:
            return Node(keyword, args, None, location)
        if kind == LIST:
            entries, end = self.list_block(keyword, args, location)
            return Node(keyword, args, entries, location, end)
        sub = _Frame(kind, keyword, location)
        children, end = self.block(sub, need_brace=True)
        return Node(keyword, args, children, location, end)

    def list_block(
        self, keyword: str, args: tuple[str, ...], location: Location
    ) -> tuple[tuple[Node, ...], Location]:
        """keepalived's alloc_value_block(): raw lines up to the first '}', no nesting.

        Returns the entries and the line that ended the list.
        """
        if args and keyword != "virtual_server_group":
            self.reader.report(
                location,
                "list-arguments",
                f"keepalived ignores '{' '.join(args)}' after {keyword}: its entries go in a "
                "{ } block",
                f"write {keyword} {{ {' '.join(args)} }}",
                "warning",
            )
        entries: list[Node] = []
        need_brace = True
        end = location
        while (line := self.next_words()) is not None:
            words, entry_location = line
            end = entry_location
            if need_brace:
                need_brace = False
                if words == ("{",):
                    continue
                self.reader.report(
                    entry_location,
                    "missing-brace",
                    f"missing '{{' after {keyword} (line {location.line}); keepalived takes "
                    "every line up to the next '}' as its entries",
                    f"put '{{' at the end of line {location.line}",
                )
            if words == ("}",):
                break
            if words == ("{",):
                self.reader.report(
                    entry_location, "unexpected-brace", f"'{{' inside the {keyword} list"
                )
                continue
            entries.append(Node(words[0], words[1:], None, entry_location))
        return tuple(entries), end

    def unknown(self, frame: _Frame, keyword: str, location: Location) -> None:
        where = frame.keyword if frame.block != TOP else "the top level"
        if frame.block != TOP:
            where += f" (line {frame.location.line})"
        homes = sorted(block for block, words in GRAMMAR.items() if keyword in words)
        if keyword in REMOVED:
            fix = f"delete it: {REMOVED[keyword]}"
        elif keyword == "}":
            fix = "delete this '}' or add the block it was meant to close"
        elif TOP in homes:
            fix = f"{keyword} belongs at the top level: a '}}' is probably missing before this line"
        elif homes:
            fix = f"{keyword} is valid only in {', '.join(homes)}"
        else:
            fix = "check the spelling against man 5 keepalived.conf"
        self.reader.report(
            location,
            "unknown-keyword",
            f"unknown keyword '{keyword}' in {where}; keepalived ignores the line",
            fix,
        )

    def close(self, frame: _Frame, end: Location | None) -> None:
        """Explain each '{' keepalived ignored in this block, now that its extent is known."""
        for brace in frame.ignored_braces:
            if frame.block == TOP:
                effect = "the lines after it are read as top-level keywords"
            else:
                until = str(end.line) if end else "the end of the file"
                effect = (
                    f"lines {brace.line + 1} to {until} are read as part of {frame.keyword} "
                    f"(line {frame.location.line}), and the '}}' meant to close the ignored "
                    f"block closes {frame.keyword} instead"
                )
            self.reader.report(
                brace,
                "ignored-brace",
                f"keepalived ignores this '{{' (keepalived: Unexpected '{{' - ignoring): {effect}",
                "fix the keyword before it, or close the previous block first",
            )

    def unclosed(self) -> None:
        """Report each '{' never matched, as keepalived's 'missing }' count does, with lines."""
        count = len(self.open_braces)
        for location, keyword in self.open_braces:
            self.reader.report(
                location,
                "unclosed-block",
                f"the '{{' of {keyword or 'this block'} is never closed (keepalived: There are "
                f"{count} missing '}}'s or extra '{{'s)",
                "add the missing '}' where the block should end",
            )


def parse_text(
    text: str,
    filename: str = "<string>",
    base_dir: Path | None = None,
    *,
    config_id: str | None = None,
) -> ConfigTree:
    """Parse configuration text; ``base_dir`` anchors relative includes (default: cwd).

    ``config_id`` plays keepalived's ``-i``: it selects ``@id`` lines.
    """
    reader = _Reader(config_id)
    lines = reader.text_lines(text, filename, base_dir or Path.cwd())
    parser = _Parser(lines, reader)
    nodes, _ = parser.block(_Frame(TOP, "", Location(filename)), need_brace=False)
    parser.unclosed()
    return ConfigTree(nodes, tuple(reader.problems), tuple(reader.files))


class _Unreadable(Exception):
    """Why a configuration file is not read, with the problem code and fix to report."""

    def __init__(self, reason: str, code: str, fix: str) -> None:
        super().__init__(reason)
        self.code = code
        self.fix = fix


def read_config(path: Path) -> str:
    """A configuration file's text, read as keepalived reads one: regular files only.

    keepalived skips directories, devices, FIFOs and executable files with a warning
    (lib/parser.c check_glob_file); reading ``/dev/zero`` or a FIFO would never end. Bytes
    that are not UTF-8 are kept (surrogateescape), since keepalived reads bytes.
    """
    try:
        info = path.stat()
    except OSError as err:
        raise _Unreadable(
            f"cannot read it: {err.strerror}", "include-missing", "check the path"
        ) from None
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o111:
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else (
            "executable" if stat.S_ISREG(info.st_mode) else "not a regular file"
        )  # fmt: skip
        raise _Unreadable(
            f"is {kind}; keepalived reads only regular, non-executable files and skips it",
            "include-not-regular",
            "include regular files only (chmod -x a config file)",
        )
    if info.st_size > MAX_FILE_BYTES:
        raise _Unreadable(
            f"is {info.st_size} bytes; lint reads configuration files up to "
            f"{MAX_FILE_BYTES // 2**20} MiB",
            "file-too-large",
            "include the configuration, not data",
        )
    try:
        return path.read_bytes().decode(errors="surrogateescape")
    except OSError as err:
        raise _Unreadable(
            f"cannot read it: {err.strerror}", "include-unreadable", "check its permissions"
        ) from None


def parse_file(path: str | os.PathLike[str], *, config_id: str | None = None) -> ConfigTree:
    """Parse a file and its includes; raise ConfigSyntaxError if the file cannot be read."""
    name = os.fspath(path)
    try:
        text = read_config(Path(name))
    except _Unreadable as err:
        raise ConfigSyntaxError(
            [Problem(Location(name), f"cannot read configuration: {err}", err.fix, code=err.code)]
        ) from None
    return parse_text(text, name, Path(name).parent, config_id=config_id)
