"""Our ipvsadm formats against captures of the real ipvsadm 1.31 on the same kernel state."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from cluster.errors import InputError
from cluster.ipvs.ipvsadm import (
    Connection,
    format_connections,
    format_list,
    format_save,
    parse_connections,
    parse_save,
)
from cluster.ipvs.table import ServiceKey, Stats, Table

DATA = Path(__file__).parent / "data" / "ipvs"
TABLE = parse_save((DATA / "table.restore").read_text(), "table.restore")


@pytest.mark.parametrize(
    ("fixture", "view", "exact"),
    [
        ("list.txt", "default", False),
        ("stats.txt", "stats", False),
        ("rate.txt", "rate", False),
        ("thresholds.txt", "thresholds", False),
        ("persistent-conn.txt", "persistent-conn", False),
        ("exact-stats.txt", "stats", True),
    ],
)
def test_list_matches_real_ipvsadm(fixture: str, view: str, exact: bool) -> None:
    assert format_list(TABLE, view, exact) == (DATA / fixture).read_text()  # type: ignore[arg-type]


def test_save_matches_real_ipvsadm_save() -> None:
    assert format_save(TABLE) == (DATA / "save.txt").read_text()


def test_save_restore_round_trip_keeps_everything_ipvsadm_save_keeps() -> None:
    saved = (DATA / "save.txt").read_text()
    assert format_save(parse_save(saved)) == saved
    # ipvsadm-save drops thresholds, so the round trip equals the table without them
    without_thresholds = Table(
        tuple(
            replace(s, destinations=tuple(
                replace(d, upper_threshold=0, lower_threshold=0) for d in s.destinations
            ))
            for s in TABLE
        )
    )  # fmt: skip
    assert parse_save(saved) == without_thresholds


def test_restore_reads_what_the_kernel_defaults() -> None:
    dns = TABLE.service(ServiceKey.inet("UDP", "192.168.0.174", 53))
    assert dns is not None
    assert (dns.timeout, dns.netmask, dns.destinations[0].port) == (60, 24, 53)
    mark = TABLE.service(ServiceKey.mark(3_000_000_000))
    assert mark is not None and mark.destinations[0].forwarding == "DR"


def test_big_numbers_shorten_like_ipvsadm() -> None:
    big = Stats(conns=99_999_999, inpkts=100_000_000, outpkts=123_456_789_012,
                inbytes=123_456_789_012_345, outbytes=5 * 10**17)  # fmt: skip
    service = TABLE.service(ServiceKey.inet("TCP", "192.168.0.175", 80))
    assert service is not None
    table = Table((replace(service, stats=big),))
    line = format_list(table, "stats").splitlines()[3]
    assert line == (
        "TCP  192.168.0.175:80             99999999  100000K     123G     123T  500000T"
    )
    exact = format_list(table, "stats", exact=True).splitlines()[3]
    assert exact.endswith(" 99999999 100000000 123456789012 123456789012345 500000000000000000")


def test_restore_errors_name_each_line() -> None:
    text = "-A -t 192.0.2.1:80 -s rr\n-A -t 192.0.2.1:80\n-a -t 192.0.2.9:80 -r 10.0.0.1\n-Q\n"
    with pytest.raises(InputError) as caught:
        parse_save(text, "bad.save")
    assert [str(p) for p in caught.value.problems] == [
        "bad.save:2: error: service TCP 192.0.2.1:80 already exists",
        "bad.save:3: error: no service TCP 192.0.2.9:80",
        "bad.save:4: error: unknown or misplaced option '-Q'",
    ]


def test_restore_applies_edits_and_deletes_in_order() -> None:
    text = (
        "-A -t 192.0.2.1:80 -s rr\n"
        "-a -t 192.0.2.1:80 -r 10.0.0.1:80 -m\n"
        "-a -t 192.0.2.1:80 -r 10.0.0.2:80 -m\n"
        "-e -t 192.0.2.1:80 -r 10.0.0.1:80 -m -w 5\n"
        "-d -t 192.0.2.1:80 -r 10.0.0.2:80\n"
        "-E -t 192.0.2.1:80 -s wrr\n"
    )
    (service,) = parse_save(text)
    assert service.scheduler == "wrr"
    assert [str(d) for d in service.destinations] == ["10.0.0.1:80 NAT weight 5"]


def test_connections_format_like_ipvsadm_lnc() -> None:
    proc = (
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n"
        "TCP C0A800C8 A1B2 C0A800AE 0050 C0A8AA19 0050 TIME_WAIT        59\n"
        "UDP 2001:0db8:0000:0000:0000:0000:0000:0009 0035 2001:0db8:0000:0000:0000:0000:0000:0001"
        " 0035 2001:0db8:0001:0000:0000:0000:0000:0025 0035 UDP             301\n"
    )
    assert format_connections(proc) == (
        "IPVS connection entries\n"
        "pro expire state       source             virtual            destination\n"
        "TCP 00:59  TIME_WAIT   192.168.0.200:41394 192.168.0.174:80   192.168.170.25:80\n"
        "UDP 05:01  UDP         [2001:db8::9]:53   [2001:db8::1]:53   [2001:db8:1::25]:53\n"
    )
    assert parse_connections(proc)[0] == Connection(
        "TCP", "192.168.0.200:41394", "192.168.0.174:80", "192.168.170.25:80", "TIME_WAIT", 59
    )


def test_ipv6_service_keeps_its_address_form() -> None:
    key = ServiceKey.inet("TCP", "2001:db8::1", 80)
    assert key.endpoint == "[2001:db8::1]:80"
    assert key.address == ipaddress.ip_address("2001:db8::1")
