"""How keepalived 2.2.7 reads the words after a keyword, and what it does with a bad one.

keepalived's handlers read numbers with a handful of helpers in lib/parser.c
(``read_unsigned``, ``read_int``, ``read_decimal_unsigned``, ``check_true_false``) and
addresses with ``inet_pton``. Each helper has quirks an operator trips over: a negative
``weight`` is "negative number", ``0.0000001`` has "too many decimal places", an empty quoted
string reads as 0. The classes here copy those rules, so that lint flags exactly the values
keepalived flags, and each carries keepalived's *effect* ("keepalived ignores the line",
"keepalived uses 100") for the message.

A kind's :meth:`~Kind.check` takes the arguments of one line and returns why keepalived
complains, or None. Kinds are data: the keyword table (:mod:`cluster.keepalived.keywords`)
says which keyword takes which.

>>> Number(1, 255).check(("300",))
'300 is outside 1-255'
>>> Number(0, 65535).check(("-5",))
'-5 is negative'
>>> Seconds("0.01", "255").check(("abc",))
"'abc' is not a number"
>>> Choice("MASTER", "BACKUP").check(("MASTR",))
"'MASTR' is not one of MASTER, BACKUP"
>>> Flag().check(("maybe",)) is not None, Flag().check(()) is None
(True, True)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
ULONG_MAX = 2**64 - 1
TIMER_DIGITS = 6
"""keepalived keeps times in microseconds: a duration has at most 6 decimal places."""

IFNAMSIZ = 16
"""The kernel's interface name size; a name may have 15 characters."""

_LEADING_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")
_WHITESPACE = " \t\n\v\f\r"


def _strtoul(text: str) -> tuple[int, str]:
    """C's strtoul/strtol: the number at the start (0 if none) and what follows it.

    As in C, a text without digits converts nothing, so the whole text is left over.
    """
    match = _LEADING_NUMBER.match(text)
    if match is None:
        return 0, text
    sign, digits = match.groups()
    return int(digits) * (-1 if sign == "-" else 1), text[match.end() :]


def read_unsigned(text: str, low: int, high: int) -> str | None:
    """keepalived's read_unsigned(): why ``text`` is refused, or None."""
    if text.lstrip(_WHITESPACE).startswith("-"):
        return f"{text} is negative"
    value, rest = _strtoul(text)
    if rest:
        return f"{text!r} is not a whole number"
    if value > UINT_MAX or not low <= value <= high:
        return f"{text} is outside {low}-{high}"
    return None


def read_int(text: str, low: int, high: int) -> str | None:
    """keepalived's read_int(): a signed whole number in a range."""
    value, rest = _strtoul(text)
    if rest:
        return f"{text!r} is not a whole number"
    if not INT_MIN <= value <= INT_MAX or not low <= value <= high:
        return f"{text} is outside {low} to {high}"
    return None


def read_decimal(text: str, low: Decimal, high: Decimal, digits: int = TIMER_DIGITS) -> str | None:
    """keepalived's read_decimal_unsigned(): a fixed-point number such as ``0.5``.

    Its own way, not Python's: ``.5`` and ``5.`` are numbers, ``1e3`` and ``-0`` are not,
    and more than ``digits`` decimal places is an error even though keepalived rounds.
    """
    if text.startswith("-"):
        return f"{text} is negative"
    integer, dot, fraction = text.partition(".")
    if len(fraction) > digits:
        return f"{text} has more than {digits} decimal places"
    value, rest = _strtoul(integer + fraction.ljust(digits, "0") if dot else integer + "0" * digits)
    if rest:
        return f"{text!r} is not a number"
    number = Decimal(value).scaleb(-digits)
    if value > ULONG_MAX or not low <= number <= high:
        return f"{text} is outside {_plain(low)}-{_plain(high)}"
    return None


def _plain(number: Decimal) -> str:
    return f"{number.normalize():f}"


def is_ip_address(text: str, family: int | None = None) -> bool:
    """inet_pton(): a plain IPv4 or IPv6 address, no prefix, no zone (``%eth0``)."""
    if "%" in text:
        return False
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return family is None or address.version == family


def is_true_false(text: str) -> bool:
    """check_true_false(): the words keepalived takes for a boolean."""
    return text in ("true", "on", "yes", "false", "off", "no")


@dataclass(frozen=True)
class Kind:
    """What one keyword's arguments may be; the base accepts anything.

    ``effect`` is what keepalived does with a line it refuses; ``fix`` says what to write.
    """

    _: KW_ONLY
    effect: str = "keepalived ignores the line"
    fix: str = ""

    def check(self, args: tuple[str, ...]) -> str | None:
        """Why keepalived refuses these arguments, or None when it takes them."""
        return None

    def advice(self) -> str:
        """What to write instead: ``fix`` when the table gives one, else from the kind."""
        return self.fix or "see man 5 keepalived.conf for what this keyword takes"

    def keeps(self, args: tuple[str, ...]) -> bool:
        """Whether keepalived still uses the line, complaint or not."""
        return self.check(args) is None

    def missing(self) -> str | None:
        """The complaint when the keyword has no argument at all, or None if that is fine."""
        return None


@dataclass(frozen=True)
class Word(Kind):
    """One word, any text: a name, a path, a script. ``max_len`` where keepalived cuts."""

    max_len: int | None = None
    required: bool = True

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        if self.max_len is not None and len(args[0].encode()) > self.max_len:
            return f"{args[0]!r} is longer than {self.max_len} characters"
        return None

    def missing(self) -> str | None:
        return "the value is missing" if self.required else None


@dataclass(frozen=True)
class Number(Kind):
    """A whole number; ``signed`` numbers are read with read_int, others with read_unsigned."""

    low: int = 0
    high: int = UINT_MAX
    signed: bool = False

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        reader = read_int if self.signed else read_unsigned
        return reader(args[0], self.low, self.high)

    def missing(self) -> str | None:
        return "the number is missing"

    def advice(self) -> str:
        sign = "" if self.low >= 0 else " (a minus sign is allowed)"
        return self.fix or f"use a whole number from {self.low} to {self.high}{sign}"


@dataclass(frozen=True)
class Seconds(Kind):
    """A duration or other fixed-point number, read with read_decimal_unsigned."""

    low: Decimal | str = "0"
    high: Decimal | str = str(Decimal(ULONG_MAX - 1).scaleb(-TIMER_DIGITS))
    digits: int = TIMER_DIGITS

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        return read_decimal(args[0], Decimal(self.low), Decimal(self.high), self.digits)

    def missing(self) -> str | None:
        return "the number is missing"

    def keeps(self, args: tuple[str, ...]) -> bool:
        """read_decimal_unsigned() complains about junk and extra decimals, and then still
        takes the number it could read, if that is in range."""
        if not args or args[0].startswith("-"):
            return False
        integer, _, fraction = args[0].partition(".")
        value, _ = _strtoul(integer + fraction[: self.digits].ljust(self.digits, "0"))
        return Decimal(self.low) <= Decimal(value).scaleb(-self.digits) <= Decimal(self.high)

    def advice(self) -> str:
        low, high = _plain(Decimal(self.low)), _plain(Decimal(self.high))
        return self.fix or f"use a number from {low} to {high}, at most {self.digits} decimals"


@dataclass(frozen=True)
class Choice(Kind):
    """One of a fixed set of words."""

    words: tuple[str, ...] = ()
    ignore_case: bool = False

    def __init__(self, *words: str, effect: str = "keepalived ignores the line",
                 ignore_case: bool = False) -> None:  # fmt: skip
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "effect", effect)
        object.__setattr__(self, "fix", f"use one of {', '.join(words)}")
        object.__setattr__(self, "ignore_case", ignore_case)

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        word = args[0]
        known = {w.lower() for w in self.words} if self.ignore_case else set(self.words)
        if (word.lower() if self.ignore_case else word) not in known:
            return f"{word!r} is not one of {', '.join(self.words)}"
        return None

    def missing(self) -> str | None:
        return "the value is missing"


@dataclass(frozen=True)
class Flag(Kind):
    """A switch: the keyword alone means yes; an argument must be true/false/on/off/yes/no."""

    _: KW_ONLY
    fix: str = "write the keyword alone, or follow it with true or false"

    def check(self, args: tuple[str, ...]) -> str | None:
        if args and not is_true_false(args[0]):
            return f"{args[0]!r} is not true/false, on/off or yes/no"
        return None


@dataclass(frozen=True)
class Address(Kind):
    """An IP address as inet_pton reads it; ``family`` 4 or 6 narrows it, ``multicast``
    requires a multicast group."""

    family: int | None = None
    multicast: bool = False
    _: KW_ONLY
    fix: str = "write an IP address such as 192.0.2.1 or 2001:db8::1"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        text = args[0]
        if not is_ip_address(text.split("/")[0], self.family):
            version = f"an IPv{self.family}" if self.family else "an IP"
            return f"{text!r} is not {version} address"
        if self.multicast and not ipaddress.ip_address(text).is_multicast:
            return f"{text} is not a multicast address"
        return None

    def missing(self) -> str | None:
        return "the address is missing"


@dataclass(frozen=True)
class Args(Kind):
    """Several positional arguments, each of its own kind; the first is required when its
    kind requires one, the later ones are optional."""

    kinds: tuple[Kind, ...] = ()

    def __init__(self, *kinds: Kind, effect: str = "keepalived ignores the line",
                 fix: str = "") -> None:  # fmt: skip
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(self, "effect", effect)
        object.__setattr__(self, "fix", fix)

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.kinds[0].missing()
        for kind, word in zip(self.kinds, args, strict=False):
            if reason := kind.check((word,)):
                return reason
        return None

    def missing(self) -> str | None:
        return self.kinds[0].missing()

    def advice(self) -> str:
        return self.fix or self.kinds[0].advice()


@dataclass(frozen=True)
class Each(Kind):
    """Every argument of the line is of one kind: ``status_code 200-299 404 503``."""

    kind: Kind = field(default_factory=Kind)
    at_least_one: bool = True

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return self.missing()
        return next((r for word in args if (r := self.kind.check((word,)))), None)

    def missing(self) -> str | None:
        return "the value is missing" if self.at_least_one else None

    def advice(self) -> str:
        return self.fix or self.kind.advice()


@dataclass(frozen=True)
class Options(Kind):
    """``NAME VALUE`` pairs after optional leading arguments, as in ``lvs_timeouts tcp 900``.

    ``leading`` are positional kinds before the options; an unknown option name is an error.
    """

    leading: tuple[Kind, ...] = ()
    options: Mapping[str, Kind] = field(default_factory=dict)
    required: bool = False

    def check(self, args: tuple[str, ...]) -> str | None:
        if len(args) < max(len(self.leading), self.required):
            return self.missing()
        for kind, word in zip(self.leading, args, strict=False):
            if reason := kind.check((word,)):
                return reason
        rest = list(args[len(self.leading) :])
        while rest:
            name = rest.pop(0)
            if name not in self.options:
                return f"unknown option {name!r} (known: {', '.join(self.options)})"
            kind = self.options[name]
            if isinstance(kind, Flag):
                continue
            if not rest:
                return f"{name} needs a value"
            if reason := kind.check((rest.pop(0),)):
                return f"{name} {reason}"
        return None

    def missing(self) -> str | None:
        if self.leading:
            return self.leading[0].missing()
        return f"at least one of {', '.join(self.options)} is needed" if self.required else None


@dataclass(frozen=True)
class Optional(Kind):
    """The keyword alone is fine; an argument, when given, must be of ``kind``."""

    kind: Kind = field(default_factory=Kind)

    def check(self, args: tuple[str, ...]) -> str | None:
        return self.kind.check(args) if args else None

    def advice(self) -> str:
        return self.fix or self.kind.advice()


@dataclass(frozen=True)
class Either(Kind):
    """A word keepalived takes in either of two forms (a policy name or a size)."""

    first: Kind = field(default_factory=Kind)
    second: Kind = field(default_factory=Kind)

    def check(self, args: tuple[str, ...]) -> str | None:
        first = self.first.check(args)
        return first and self.second.check(args) and first

    def missing(self) -> str | None:
        return self.first.missing()


@dataclass(frozen=True)
class Reported(Kind):
    """A keyword keepalived always complains about, whatever follows it."""

    reason: str = ""

    def check(self, args: tuple[str, ...]) -> str | None:
        return self.reason


@dataclass(frozen=True)
class Host(Kind):
    """An address or a host name, with an optional port (``smtp_server``).

    Something that looks like an IPv4 address must be one; keepalived would otherwise ask
    DNS for it, which a director usually cannot answer at start.
    """

    _: KW_ONLY
    fix: str = "write an IP address, or a host name the director can resolve"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the server is missing"
        host = args[0]
        if re.fullmatch(r"[0-9.]+", host) or ":" in host:
            if not is_ip_address(host):
                return f"{host!r} is not an IP address"
        elif not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
            return f"{host!r} is neither an IP address nor a host name"
        if len(args) > 1:
            return read_unsigned(args[1], 1, 65535)
        return None


@dataclass(frozen=True)
class Weighted(Kind):
    """An entry of a tracking list: ``NAME [weight N [reverse]]``.

    keepalived reads the weight in ``low``-``high`` and then refuses the outermost values
    (±254 for interfaces and scripts) with its own message, so ``limit`` is what it keeps.
    """

    limit: int = 253
    low: int = -254
    high: int = 254
    strict_options: bool = False
    """track_file and track_bfd drop an entry with an unknown weight option; the others keep
    it."""

    def check(self, args: tuple[str, ...]) -> str | None:
        if len(args) < 2:
            return None
        if args[1] != "weight":
            return f"unknown option {args[1]!r}; only weight follows the name"
        if len(args) == 2:
            return "weight without a value"
        if reason := read_int(args[2], self.low, self.high):
            return f"weight {reason}"
        if abs(int(args[2].strip())) > self.limit:
            return f"weight {args[2]} is outside -{self.limit} to {self.limit}"
        if len(args) > 3 and args[3] != "reverse":
            return f"unknown weight option {args[3]!r}; only reverse is known"
        return None

    def keeps(self, args: tuple[str, ...]) -> bool:
        """keepalived drops an entry with an unknown option or a weight without a value; a
        bad weight only becomes 0."""
        if len(args) > 3 and args[3] != "reverse" and self.strict_options:
            return False
        return len(args) < 2 or (args[1] == "weight" and len(args) > 2)


@dataclass(frozen=True)
class Umask(Kind):
    """``umask 0077`` or ``umask IWGRP|IWOTH``."""

    _: KW_ONLY
    fix: str = "write an octal mask such as 0077, or bits such as IWGRP|IWOTH"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the mask is missing"
        if args[0][:1].isdigit():
            if len(args) != 1:
                return "extra words after the mask"
            try:
                value = int(args[0], 8 if args[0].startswith("0") and args[0][1:2] != "x" else 0)
            except ValueError:
                return f"{args[0]!r} is not a mask"
            return f"{args[0]} has bits outside 0777" if value & ~0o777 else None
        bits = "".join(args).split("|")
        bad = [bit for bit in bits if not re.fullmatch(r"I[RWX](USR|GRP|OTH)", bit)]
        return f"unknown umask bit {bad[0]!r}" if bad else None


@dataclass(frozen=True)
class ExtraInterval(Kind):
    """``garp_extra_if [all] SECONDS``: the interval is required, ``all`` optional."""

    low: int = 0
    high: int = 86400

    def check(self, args: tuple[str, ...]) -> str | None:
        numbers = [word for word in args if word != "all"]
        if not numbers:
            return "the interval in seconds is missing"
        return next((r for n in numbers if (r := read_unsigned(n, self.low, self.high))), None)


@dataclass(frozen=True)
class Forwarding(Kind):
    """``lvs_method NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]``."""

    _: KW_ONLY
    fix: str = "use NAT, DR or TUN"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the method is missing"
        if args[0] not in ("NAT", "DR", "TUN"):
            return f"{args[0]!r} is not one of NAT, DR, TUN"
        words, kind, port = list(args[1:]), "ipip", False
        while words:
            word = words.pop(0)
            if word in ("type", "port") and not words:
                return f"{word} needs a value"
            if word == "type":
                kind = words.pop(0)
                if kind not in ("ipip", "gue", "gre"):
                    return f"unknown tunnel type {kind!r}"
            elif word == "port":
                port = True
                if reason := read_unsigned(words.pop(0), 1, 65535):
                    return f"tunnel port {reason}"
            elif word not in ("nocsum", "csum", "remcsum"):
                return f"unknown tunnel option {word!r}"
        if (kind == "gue") != port:
            return "a gue tunnel needs a port, and only a gue tunnel takes one"
        checksums = set(args) & {"csum", "remcsum"}
        if (kind == "ipip" and checksums) or (kind == "gre" and "remcsum" in checksums):
            return f"{kind} tunnels do not take {', '.join(sorted(checksums))}"
        return None


@dataclass(frozen=True)
class StatusCodes(Kind):
    """``status_code 200-299 404``: HTTP codes and ranges within 100-599."""

    _: KW_ONLY
    effect: str = "keepalived skips that code"
    fix: str = "write codes and ranges within 100-599, such as 200-299 404"

    def check(self, args: tuple[str, ...]) -> str | None:
        for word in args:
            low, rest = _strtoul(word)
            high = low
            if rest.startswith("-"):
                high, rest = _strtoul(rest[1:])
            if rest or not 100 <= low <= high <= 599:
                return f"{word!r} is not an HTTP status code or range within 100-599"
        return None


@dataclass(frozen=True)
class Digest(Kind):
    """An MD5 digest, 32 hexadecimal digits, as genhash prints it."""

    _: KW_ONLY
    fix: str = "paste the 32 hex digits that genhash (or `cluster genhash`) prints"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the digest is missing"
        if len(args[0]) != 32:
            return f"{args[0]!r} has {len(args[0])} characters, not 32"
        if not re.fullmatch(r"[0-9A-Fa-f]{32}", args[0]):
            return f"{args[0]!r} is not hexadecimal"
        return None


@dataclass(frozen=True)
class Granularity(Kind):
    """``persistence_granularity``: an IPv4 netmask, or an IPv6 prefix length.

    keepalived's check that the mask's bits are contiguous is compiled out in 2.2.7.
    """

    _: KW_ONLY
    fix: str = "write a netmask such as 255.255.255.0, or a prefix length 1-128 for IPv6"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the netmask is missing"
        if "." not in args[0]:
            return read_unsigned(args[0], 1, 128)
        if not is_ip_address(args[0], 4):
            return f"{args[0]!r} is not an IPv4 netmask"
        return None


@dataclass(frozen=True)
class SyncDaemon(Kind):
    """``lvs_sync_daemon IFNAME [inst] VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N]
    [group ADDRESS]``; the old ``IFNAME INSTANCE SYNCID`` form is still read, with a
    complaint."""

    _: KW_ONLY
    fix: str = "write lvs_sync_daemon IFNAME INSTANCE [id SYNCID]"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not args:
            return "the interface is missing"
        if len(args[0]) >= IFNAMSIZ:
            return f"interface name {args[0]!r} is longer than 15 characters"
        options: dict[str, Kind] = {
            "inst": Word(),
            "id": Number(0, 255),
            "maxlen": Number(1, 65507),
            "port": Number(1, 65535),
            "ttl": Number(1, 255),
            "group": Address(multicast=True),
        }
        index = 1
        while index < len(args):
            word = args[index]
            if word in options:
                if index + 1 == len(args):
                    return f"{word} needs a value"
                if reason := options[word].check((args[index + 1],)):
                    return f"{word} {reason}"
                index += 2
                continue
            if index == 2:
                return read_unsigned(word, 0, 255) or "write 'id' before the sync id"
            if index != 1:
                return f"unknown option {word!r}"
            index += 1
        return None


@dataclass(frozen=True)
class Peer(Kind):
    """A ``unicast_peer`` entry: ``ADDRESS [min_ttl N] [max_ttl N]``."""

    _: KW_ONLY
    fix: str = "write a peer address such as 192.0.2.2, then optionally min_ttl/max_ttl 0-255"

    def check(self, args: tuple[str, ...]) -> str | None:
        if not is_ip_address(args[0].split("-")[0].split("/")[0]):
            return f"{args[0]!r} is not an IP address"
        ttl = {"min_ttl": 0, "max_ttl": 255}
        for index in range(1, len(args), 2):
            if index + 1 == len(args):
                return f"{args[index]} needs a value"
            if reason := read_unsigned(args[index + 1], 0, 255):
                return f"{args[index]} {reason}"
            if args[index] not in ttl:
                return f"unknown unicast_peer option {args[index]!r}"
            ttl[args[index]] = int(args[index + 1].strip())
        if ttl["min_ttl"] > ttl["max_ttl"]:
            return "min_ttl is above max_ttl, so every advert is dropped"
        return None


SCOPES = ("global", "site", "link", "host", "nowhere")
"""Address scopes by name (iproute2's rt_scopes); a number 0-255 also works."""

_VIP_FLAGS = ("home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac")


@dataclass(frozen=True)
class Vip(Kind):
    """A ``virtual_ipaddress`` line: ``ADDRESS[/PREFIX] [dev IF] [scope S] [brd B]
    [label L] [peer P] [preferred_lft N] [flags]``; each complaint names its effect."""

    _: KW_ONLY
    effect: str = ""
    fix: str = "write e.g. 192.0.2.10/24 dev eth0 label eth0:vip (man keepalived.conf)"

    def check(self, args: tuple[str, ...]) -> str | None:
        address, _, prefix = args[0].partition("/")
        six = ":" in address
        if prefix and read_unsigned(prefix, 0, 128 if six else 32):
            return f"prefix /{prefix} is not 0-{128 if six else 32}; keepalived uses /" + (
                "128" if six else "32"
            )
        if not is_ip_address(address, 6 if six else 4):
            return f"{args[0]!r} is not an IP address; keepalived skips this VIP"
        words = list(args[1:])
        while words:
            word = words.pop(0)
            if word in _VIP_FLAGS:
                continue
            if word not in ("dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft"):
                return f"unknown option {word!r}; keepalived ignores it"
            if not words:
                return f"{word} needs a value; keepalived ignores it"
            value = words.pop(0)
            length = int(prefix.strip()) if prefix else 128 if six else 32
            if reason := self._option(word, value, six, length):
                return reason
        return None

    @staticmethod
    def _option(word: str, value: str, six: bool, prefix: int) -> str | None:
        if word == "scope" and value not in SCOPES and read_unsigned(value, 0, 255):
            return f"unknown scope {value!r}; keepalived ignores it"
        if word == "label" and len(value) >= IFNAMSIZ:
            return f"label {value!r} is longer than 15 characters; keepalived drops the VIP"
        if word in ("brd", "broadcast") and six:
            return "IPv6 has no broadcast address; keepalived ignores it"
        if word in ("brd", "broadcast") and value not in ("+", "-") and not is_ip_address(value, 4):
            return f"broadcast {value!r} is not an IPv4 address; keepalived ignores it"
        if word in ("brd", "broadcast") and value in ("+", "-") and prefix >= 31:
            return f"a /{prefix} address has no broadcast address; keepalived ignores brd"
        if word == "peer" and not is_ip_address(value.split("/")[0], 6 if six else 4):
            return f"peer {value!r} is not an address of the VIP's family; keepalived ignores it"
        if word == "preferred_lft" and value != "forever" and read_unsigned(value, 0, UINT_MAX):
            return f"preferred_lft {value!r} is not a number of seconds or forever"
        if word == "dev" and len(value) >= IFNAMSIZ:
            return f"interface name {value!r} is longer than 15 characters"
        return None


@dataclass(frozen=True)
class GroupEntry(Kind):
    """A ``virtual_server_group`` line: ``ADDRESS[-LAST][/PREFIX] [PORT]`` or
    ``fwmark N [inet|inet6]``."""

    effect: str = "keepalived skips the entry"
    fix: str = "write e.g. 192.0.2.10 80, 192.0.2.10-20 80 or fwmark 7"

    def check(self, args: tuple[str, ...]) -> str | None:
        if args[0] == "fwmark":
            if len(args) < 2:
                return "fwmark needs a number"
            if reason := read_unsigned(args[1], 0, UINT_MAX):
                return f"fwmark {reason}"
            if len(args) > 2 and args[2] not in ("inet", "inet6"):
                return f"{args[2]!r} is not inet or inet6"
            return None
        address = args[0].split("/")[0].split("-")[0]
        if not is_ip_address(address):
            return f"{args[0]!r} is not an address or address range"
        if len(args) > 1 and (reason := read_unsigned(args[1], 0, 65535)):
            return f"port {reason}"
        return None


_RTN_TYPES = ("local", "nat", "broadcast", "brd", "anycast", "multicast", "prohibit",
              "unreachable", "blackhole", "xresolve", "unicast", "throw")  # fmt: skip
"""Route types by name (lib/rttables.c); a number 0-255 also works."""

_RT_NAMES = {
    "table": (("default", "main", "local"), UINT_MAX),
    "protocol": (("none", "redirect", "kernel", "boot", "static", "gated", "ra", "mrt", "zebra",
                  "bird", "babel", "dnrouted", "xorp", "ntk", "dhcp", "keepalived"), 255),
    "scope": (("global", "nowhere", "host", "link", "site"), 255),
    "tos": ((), 255),
    "dsfield": ((), 255),
}  # fmt: skip
"""iproute2's names keepalived knows without /etc/iproute2 (lib/rttables.c), and the largest
number each takes. Names a machine adds in /etc/iproute2 are unknown to lint."""


def _rt_value(option: str, word: str) -> str | None:
    """find_rttables_*(): a built-in name, or a number C's strtoul reads in any base."""
    names, high = _RT_NAMES[option]
    try:
        number = int(word, 0)
    except ValueError:
        return None if word in names else f"{option} {word!r} is not a known name or a number"
    return None if 0 <= number <= high else f"{option} {word} is above {high}"


def _route_address(text: str, prefix: bool = True) -> tuple[int | None, str | None]:
    """parse_route()/parse_ipaddress(): the family of ``default``/``any``/``all`` (None) or of
    an address with an optional prefix, or why it is not one."""
    if prefix and text in ("default", "any", "all"):
        return None, None
    address = text.split("/")[0] if prefix else text
    if not is_ip_address(address):
        return None, f"{text!r} is not an address"
    return (6 if ":" in address else 4), None


class _Family:
    """The one address family a route or rule may use, set by its first address."""

    def __init__(self) -> None:
        self.family: int | None = None

    def mixes(self, family: int | None) -> bool:
        if family is None or self.family in (None, family):
            self.family = self.family or family
            return False
        return True


_ROUTE_NUMBERS = {"metric": UINT_MAX, "priority": UINT_MAX, "preference": UINT_MAX,
                  "expires": UINT_MAX, "window": UINT_MAX, "hoplimit": 255}  # fmt: skip
_ROUTE_LOCKABLE = ("mtu", "advmss", "cwnd", "ssthresh", "reordering")
_ROUTE_FLAGS = ("onlink", "no_track", "add", "prepend", "append")
_ROUTE_UNCHECKED = ("nexthop", "encap", "as", "rtt", "rttvar", "rto_min", "realms", "features",
                    "quickack", "congctl", "pref", "ttl-propagate", "fastopen_no_cookie",
                    "initcwnd", "initrwnd", "track_group", "vrf", "or")  # fmt: skip
"""Options whose values lint does not read: it stops checking the line there."""
_ROUTE_OPTIONS = ("src", "via", "gw", "from", "dev", "oif", *_RT_NAMES, *_ROUTE_NUMBERS,
                  *_ROUTE_LOCKABLE)  # fmt: skip
"""Options that take a value."""


@dataclass(frozen=True)
class Route(Kind):
    """A ``virtual_routes`` or ``static_routes`` line, as keepalived's alloc_route() reads
    it: ``[to] [TYPE] DEST [src A] [via|gw A] [dev IF] [table T] [metric N] ...``."""

    _: KW_ONLY
    effect: str = "keepalived skips the route"
    fix: str = "write e.g. 10.9.0.0/16 via 192.0.2.254 dev eth1 (man keepalived.conf)"

    def check(self, args: tuple[str, ...]) -> str | None:
        words, family, dest = list(args), _Family(), False
        while words:
            word = words.pop(0)
            if word in ("inet", "inet6"):
                if family.mixes(6 if word == "inet6" else 4):
                    return f"{word} does not match the route's other addresses"
                continue
            if word in _ROUTE_FLAGS:
                continue
            if word in _ROUTE_UNCHECKED:
                return None
            if not words and word in _ROUTE_OPTIONS:
                return f"{word} needs a value"
            if word in ("src", "via", "gw", "from"):
                reason = self._address(word, words, family)
                if reason:
                    return reason
            elif word in ("dev", "oif"):
                name = words.pop(0)
                if len(name) >= IFNAMSIZ:
                    return f"interface name {name!r} is longer than 15 characters"
            elif word in _RT_NAMES:
                if reason := _rt_value(word, words.pop(0)):
                    return reason
            elif word in _ROUTE_NUMBERS or word in _ROUTE_LOCKABLE:
                if word in _ROUTE_LOCKABLE and words[0] == "lock":
                    words.pop(0)
                if not words:
                    return f"{word} needs a value"
                if reason := read_unsigned(words.pop(0), 0, _ROUTE_NUMBERS.get(word, UINT_MAX)):
                    return f"{word} {reason}"
            else:
                if word == "to" and words:
                    word = words.pop(0)
                if (word in _RTN_TYPES or _is_byte(word)) and words:
                    word = words.pop(0)
                kind, reason = _route_address(word)
                if reason:
                    return f"unknown route keyword {word!r}"
                if family.mixes(kind):
                    return "it mixes IPv4 and IPv6 addresses"
                dest = True
        return None if dest else "the route has no destination"

    @staticmethod
    def _address(word: str, words: list[str], family: _Family) -> str | None:
        if (
            word in ("via", "gw")
            and words[0] in ("inet", "inet6")
            and (family.mixes(6 if words.pop(0) == "inet6" else 4) or not words)
        ):
            return f"{word} mixes IPv4 and IPv6 addresses"
        text = words.pop(0)
        kind, reason = _route_address(text, prefix=word == "from")
        if reason:
            return f"{word} {reason}"
        if word == "from" and kind != 6:
            return "a route's from address is IPv6 only"
        return "it mixes IPv4 and IPv6 addresses" if family.mixes(kind) else None


def _is_byte(word: str) -> bool:
    """find_rttables_rtntype() also takes a type by number, 0-255 in any base."""
    try:
        return 0 <= int(word, 0) <= 255 and not word.startswith("-")
    except ValueError:
        return False


_RULE_UNCHECKED = ("fwmark", "realms", "suppress_prefixlength", "sup_pl", "suppress_ifgroup",
                   "sup_group", "tunnel-id", "uidrange", "l3mdev", "protocol", "ipproto",
                   "sport", "dport", "track_group", "tos", "dsfield")  # fmt: skip
"""Rule options lint does not read the value of: it stops checking the line there."""
_RULE_ACTIONS = ("blackhole", "unreachable", "prohibit", "nop")


@dataclass(frozen=True)
class Rule(Kind):
    """A ``virtual_rules`` or ``static_rules`` line, as keepalived's alloc_rule() reads it:
    ``[not] [from P] [to P] [dev|iif|oif IF] ACTION [priority N]``, the action one of
    ``table T``, ``goto N``, ``nop``, ``blackhole``, ``prohibit``, ``unreachable``."""

    _: KW_ONLY
    effect: str = "keepalived skips the rule"
    fix: str = "write e.g. from 10.9.0.0/16 table 100 priority 100 (man keepalived.conf)"

    def check(self, args: tuple[str, ...]) -> str | None:
        words, family = list(args), _Family()
        actions: list[str] = []
        preference = goto = None
        while words:
            word = words.pop(0)
            if word in ("inet", "inet6"):
                if family.mixes(6 if word == "inet6" else 4):
                    return f"{word} does not match the rule's other addresses"
                continue
            if word in ("not", "no_track"):
                continue
            if word in _RULE_UNCHECKED:
                return None
            if word == "type" and words:
                word = words.pop(0)
            if word in _RULE_ACTIONS:
                actions.append(word)
                continue
            if not words:
                return f"unknown rule option {word!r}" if word not in _RULE_OPTIONS else (
                    f"{word} needs a value")  # fmt: skip
            value = words.pop(0)
            if word in ("from", "to"):
                kind, reason = _route_address(value)
                if reason:
                    return f"{word} {reason}"
                if family.mixes(kind):
                    return "it mixes IPv4 and IPv6 addresses"
            elif word in ("table", "lookup"):
                if reason := _rt_value("table", value):
                    return reason
                if _is_number(value) and int(value, 0) == 0:
                    return "table 0 is not a table"
                actions.append(word)
            elif word in ("preference", "order", "priority"):
                if reason := read_unsigned(value, 0, UINT_MAX):
                    return f"{word} {reason}"
                preference = int(value)
            elif word == "goto":
                if reason := read_unsigned(value, 0, UINT_MAX):
                    return f"goto {reason}"
                goto = int(value)
                actions.append(word)
            elif word in ("dev", "iif", "oif"):
                if len(value) >= IFNAMSIZ:
                    return f"interface name {value!r} is longer than 15 characters"
            else:
                return f"unknown rule option {word!r}"
        if len(actions) > 1:
            return f"{' and '.join(actions)}: a rule takes one action"
        if goto is not None and (preference is None or preference >= goto):
            return "goto needs a preference below its target"
        return None if actions else "the rule has no action (table, goto, nop, blackhole, ...)"


_RULE_OPTIONS = ("from", "to", "table", "lookup", "preference", "order", "priority", "goto",
                 "dev", "iif", "oif")  # fmt: skip


def _is_number(word: str) -> bool:
    try:
        int(word, 0)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Vmac(Kind):
    """``use_vmac [IFNAME] [MAC]``: a name for the macvlan interface (15 characters, no
    ``/``, ``:`` or blanks) and its unicast MAC address, either or both."""

    _: KW_ONLY
    fix: str = "write use_vmac, use_vmac vrrp.51, or add a MAC such as 02:00:5e:00:01:33"

    def check(self, args: tuple[str, ...]) -> str | None:
        for word in args[:2]:
            if ":" not in word:
                if len(word) >= IFNAMSIZ or word in (".", "..") or "/" in word:
                    return f"VMAC interface name {word!r} is too long or invalid"
                continue
            octets = word.rstrip(":").split(":")
            hexes = all(re.fullmatch(r"[0-9A-Fa-f]{1,2}", octet) for octet in octets)
            if not hexes or len(octets) not in (5, 6):
                return f"{word!r} is not a MAC address"
            if int(octets[0], 16) & 1:
                return f"{word} is a multicast MAC address"
            if [int(o, 16) for o in octets[:5]] in ([0, 0, 0x5E, 0, 1], [0, 0, 0x5E, 0, 2]):
                return f"{word} is the RFC 5798 virtual router MAC, which keepalived sets itself"
        return None


@dataclass(frozen=True)
class Ipvlan(Kind):
    """``use_ipvlan [IFNAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]``."""

    _: KW_ONLY
    fix: str = "write use_ipvlan, or use_ipvlan ipvlan0 192.0.2.5/24 bridge"

    def check(self, args: tuple[str, ...]) -> str | None:
        modes = [word for word in args if word in ("bridge", "private", "vepa")]
        if len(modes) > 1:
            return f"{' and '.join(modes)}: an ipvlan takes one mode"
        names = [w for w in args if w not in modes and not is_ip_address(w.split("/")[0])]
        if len(names) > 1:
            return f"{' and '.join(names)}: an ipvlan has one interface name"
        if names and len(names[0]) >= IFNAMSIZ:
            return f"IPVLAN interface name {names[0]!r} is longer than 15 characters"
        return None
