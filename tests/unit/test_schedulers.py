"""The scheduler model against the kernel's algorithms, traced by hand from Linux 6.1.176.

Each expected sequence below was worked out on paper from ip_vs_<name>.c, not taken from the
model's output. Servers are 10.0.0.N:80 and a sequence writes each connection's N, ``-``
when the kernel finds no server. Remember the kernel's list is newest first: servers added
as 1, 2, 3 are walked as 3, 2, 1.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from siphash24 import siphash13

from cluster.errors import UsageError
from cluster.ipvs.schedulers import (
    MH_KEY1,
    MH_TAB_SIZE,
    Assignment,
    Connection,
    Persistence,
    ServiceModel,
    hash_32,
    hsiphash_u32,
    predict,
    split,
)
from cluster.ipvs.table import Destination


def rs(n: int, weight: int = 1, active: int = 0, inactive: int = 0) -> Destination:
    return Destination(
        ipaddress.ip_address(f"10.0.0.{n}"), 80, weight=weight,
        active_conns=active, inact_conns=inactive,
    )  # fmt: skip


def model(scheduler: str, *weights: int, **options: object) -> ServiceModel:
    """A service created empty, then given 10.0.0.1, 10.0.0.2, ... with these weights."""
    service = ServiceModel(scheduler, **options)  # type: ignore[arg-type]
    for n, weight in enumerate(weights, start=1):
        service.add(rs(n, weight))
    return service


def seq(assignments: list[Assignment]) -> str:
    return "".join(str(a.server.address).split(".")[-1] if a.server else "-" for a in assignments)


def run(service: ServiceModel, conns: list[Connection]) -> str:
    return seq([service.connect(c) for c in conns])


def same_client(count: int, **fields: object) -> list[Connection]:
    return [Connection("192.0.2.1", **fields) for _ in range(count)]  # type: ignore[arg-type]


def golden(value: int) -> int:
    """The top 8 bits of value * GOLDEN_RATIO_32 mod 2**32, written out: sh's bucket."""
    return (value * 0x61C88647 % 2**32) >> 24


# --- the kernel's hash functions -----------------------------------------------------------


def test_siphash13_is_the_kernels_64_bit_hsiphash() -> None:
    """lib/test_siphash.c's vectors for hsiphash on 64-bit kernels: key 00..0f, message
    00..n-1. On 64-bit, hsiphash is SipHash-1-3 truncated to 32 bits."""
    vectors = [0x050FC4DC, 0x7D57CA93, 0x4DC7D44D, 0xE7DDF7FB, 0x88D38328, 0x49533B67,
               0xC59F22A7, 0x9BB11140, 0x8D299A8E]  # fmt: skip
    key = bytes(range(16))
    for n, vector in enumerate(vectors):
        digest = siphash13(bytes(range(n)), key=key).digest()
        assert int.from_bytes(digest, "little") & 0xFFFFFFFF == vector
    # mh hashes one unsigned int as it lies in memory: little-endian on x86
    assert hsiphash_u32(0x03020100, key) == 0x88D38328


def test_hash_32_keeps_the_top_bits_of_the_golden_ratio_product() -> None:
    # 192.0.2.1 = 0xC0000201; 0xC0000201 * 0x61C88647 = 0x40000000 + 0x910C8E00 + 0x61C88647
    # = 0x32D51447 (mod 2**32), so bucket 0x32 = 50 of 256
    assert hash_32(0xC0000201, 32) == 0x32D51447
    assert hash_32(0xC0000201, 8) == 50 == golden(0xC0000201)
    assert hash_32(1, 8) == 0x61


# --- rr ------------------------------------------------------------------------------------


def test_rr_walks_the_list_newest_first_and_skips_weight_zero() -> None:
    assert seq(predict("rr", [rs(1), rs(2), rs(3)], same_client(6))) == "321321"
    assert seq(predict("rr", [rs(1), rs(2, 0), rs(3)], same_client(4))) == "3131"
    assert seq(predict("rr", [rs(1, 0), rs(2, 0)], same_client(2))) == "--"


def test_rr_keeps_its_place_when_servers_come_and_go() -> None:
    service = model("rr", 1, 1, 1)  # list 3, 2, 1
    assert run(service, same_client(2)) == "32"
    service.remove("10.0.0.2", 80)  # the current one: back to its predecessor, 3
    assert run(service, same_client(3)) == "131"
    service.add(rs(4))  # list 4, 3, 1; the place stays at 1, so 4 comes next
    assert run(service, same_client(4)) == "4314"
    service.remove("10.0.0.4", 80)  # the first one: back to the list head
    assert run(service, same_client(2)) == "31"


# --- wrr -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # created empty, then filled: cw stays at 1 from the first add, so the first pass
        # is the last one of a cycle (every server of weight >= 1), then cw = max weight
        ((1, 1), "212121212121"),
        ((1, 2), "212212212212"),
        ((3, 1), "211121112111"),
        ((4, 3, 2), "321121321321"),  # cw 1: 3 2 1; cw 4: 1; cw 3: 2 1; cw 2: 3 2 1
        ((1, 0, 1), "313131313131"),
        ((2, 4), "212212212212"),  # gcd 2: mw = 4 - 1 = 3, passes at cw 3 and 1
        ((4, 6, 2), "321221321221"),  # gcd 2: cw 1: 3 2 1; cw 5: 2; cw 3: 2 1
        ((0, 0), "------------"),
    ],
)
def test_wrr_sequence(weights: tuple[int, ...], expected: str) -> None:
    servers = [rs(n, w) for n, w in enumerate(weights, start=1)]
    assert seq(predict("wrr", servers, same_client(12))) == expected


def test_wrr_returns_to_the_head_but_keeps_cw_when_a_server_is_added() -> None:
    service = model("wrr", 2, 1)  # list 2(w1), 1(w2); cw 1
    assert run(service, same_client(3)) == "211"  # cw 1: 2 1; cw 2: 1
    service.add(rs(3, 2))  # list 3(w2), 2(w1), 1(w2); head, cw stays 2
    assert run(service, same_client(7)) == "3132131"  # cw 2: 3 1; cw 1: 3 2 1; cw 2: 3 1


@given(st.lists(st.integers(0, 9), min_size=1, max_size=6).filter(any))
def test_wrr_gives_each_server_its_weight_over_any_full_cycle(weights: list[int]) -> None:
    """The sequence repeats every sum(weights) / gcd connections, wherever it starts."""
    g = math.gcd(*weights)
    cycle = sum(weights) // g
    servers = [rs(n, w) for n, w in enumerate(weights, start=1)]
    picks = [a.server for a in predict("wrr", servers, same_client(3 * cycle))]
    for start in (0, cycle // 2, cycle):
        counts = Counter(str(s.address) for s in picks[start : start + cycle] if s)
        assert counts == {f"10.0.0.{n}": w // g for n, w in enumerate(weights, 1) if w}


# --- lc, wlc, sed, nq ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduler", "weights", "open_", "expected"),
    [
        ("lc", (1, 1, 1), True, "321321"),
        ("lc", (1, 2), True, "212121"),  # lc reads no weights
        ("wlc", (1, 2), True, "212212"),  # 4th: 2 has 512/2, 1 has 256/1: a tie stays with 2
        ("wlc", (1, 3), True, "212221"),
        ("sed", (1, 2), True, "221221"),  # (active + 1) / weight: 1/2 < 1/1, then 2/2 ties
        ("sed", (1, 2), False, "222222"),  # closed connections are not active: no load
        ("nq", (1, 2), True, "212221"),  # an idle server first, then as sed
        ("nq", (1, 2), False, "222222"),
        ("wlc", (0, 1), True, "222222"),
        ("nq", (1, 0), True, "111111"),
    ],
)
def test_least_connection_sequence(
    scheduler: str, weights: tuple[int, ...], open_: bool, expected: str
) -> None:
    assert run(model(scheduler, *weights), same_client(6, open=open_)) == expected


def test_lc_weighs_an_active_connection_as_256_inactive_ones() -> None:
    # added 1 then 2, so the list is 2, 1; a tie goes to 2
    for inactive, expected in ((255, "2"), (256, "2"), (257, "1")):
        servers = [rs(1, active=1), rs(2, inactive=inactive)]
        assert seq(predict("lc", servers, same_client(1))) == expected


def test_wlc_compares_by_cross_multiplying_and_ties_go_to_the_list_order() -> None:
    # 3 active at weight 3 against 1 active at weight 1: 768 * 1 == 256 * 3
    heavy, light = rs(1, weight=3, active=3), rs(2, weight=1, active=1)
    assert seq(predict("wlc", [heavy, light], same_client(1))) == "2"
    assert seq(predict("wlc", [light, heavy], same_client(1))) == "1"


def test_a_closed_connection_stops_counting_when_its_entry_leaves_the_table() -> None:
    service = model("lc", 1, 1)  # list 2, 1
    times = (0, 1, 2, 120.5)  # at 120.5 only the entry from t=0 has gone
    assert run(service, [Connection("192.0.2.1", at=t, open=False) for t in times]) == "2122"
    assert [(d.active_conns, d.inact_conns) for d in service.servers] == [(0, 2), (0, 1)]


# --- sh ------------------------------------------------------------------------------------


def test_sh_fills_buckets_weight_times_each_in_list_order() -> None:
    service = model("sh", 1, 2)  # list 2(w2), 1(w1): buckets 2, 2, 1, 2, 2, 1, ...
    table = service.hash_table()
    assert table[:6] == ("10.0.0.2:80", "10.0.0.2:80", "10.0.0.1:80") * 2
    assert Counter(table) == {"10.0.0.2:80": 171, "10.0.0.1:80": 85}
    for last in range(1, 40):
        client = ipaddress.ip_address(f"192.0.2.{last}")
        bucket = golden(int(client))
        expected = "1" if bucket % 3 == 2 else "2"
        assert seq(predict("sh", [rs(1), rs(2, 2)], [Connection(client)])) == expected
    assert seq(predict("sh", [rs(1), rs(2, 2)], [Connection("192.0.2.1")])) == "1"  # bucket 50


def test_sh_port_adds_the_source_port_to_the_hash() -> None:
    conns = [Connection("192.0.2.1", port) for port in range(40000, 40012)]
    # list 2, 1: even buckets are 2's, odd ones 1's
    expected = "".join("21"[golden(0xC0000201 + c.port) % 2] for c in conns)
    assert len(set(expected)) == 2
    assert seq(predict("sh", [rs(1), rs(2)], conns, flags=["sh-port"])) == expected
    assert seq(predict("sh", [rs(1), rs(2)], conns)) == "2" * 12  # bucket 50, even


def test_sh_weight_zero_drops_the_client_unless_fallback() -> None:
    # added 1 (w1) then 2 (w0): list 2, 1; a weight-0 server still takes one bucket, so
    # buckets alternate 2, 1. 192.0.2.1 hashes to 50, server 2.
    servers = [rs(1), rs(2, 0)]
    assert seq(predict("sh", servers, [Connection("192.0.2.1")])) == "-"
    # sh-fallback walks buckets (2 * 50 + i) % 256 from i = 0: 100 is 2 again, 101 is 1
    assert seq(predict("sh", servers, [Connection("192.0.2.1")], flags=["sh-fallback"])) == "1"


def test_sh_folds_an_ipv6_client_into_32_bits() -> None:
    folded = 0x20010DB8 ^ 0 ^ 0 ^ 0x1  # 2001:db8::1, word by word
    service = model("sh", 1, 1)  # buckets 2, 1, 2, 1, ...
    assert run(service, [Connection("2001:db8::1")]) == "21"[golden(folded) % 2]


# --- mh ------------------------------------------------------------------------------------


def mh_index(value: int) -> int:
    """The kernel's ``hsiphash(&v, 4, hash1) % 4093``, from the library directly."""
    digest = siphash13(value.to_bytes(4, "little"), key=MH_KEY1).digest()
    return (int.from_bytes(digest, "little") & 0xFFFFFFFF) % MH_TAB_SIZE


def test_mh_fills_4093_entries_in_turns() -> None:
    assert MH_TAB_SIZE == 4093  # CONFIG_IP_VS_MH_TAB_INDEX=12 in Debian's kernels
    assert Counter(model("mh", 1, 1, 1).hash_table()) == {
        "10.0.0.3:80": 1365, "10.0.0.2:80": 1364, "10.0.0.1:80": 1364,
    }  # fmt: skip
    # list 2(w2), 1(w1): 1364 rounds of 2 + 1 fill 4092, then 2 takes the last one
    assert Counter(model("mh", 1, 2).hash_table()) == {"10.0.0.2:80": 2729, "10.0.0.1:80": 1364}
    assert model("mh", 2, 4).hash_table() == model("mh", 1, 2).hash_table()  # by the gcd
    # 1000 needs 10 bits, 4 more than the table's 6: turns 1000 >> 4 = 62 and 1 (not 0);
    # 64 rounds of 63 fill 4032, then 2 takes the last 61
    assert Counter(model("mh", 1, 1000).hash_table()) == {"10.0.0.2:80": 4029, "10.0.0.1:80": 64}
    assert set(model("mh", 0, 1).hash_table()) == {"10.0.0.2:80"}  # added at 0: no entries
    assert set(ServiceModel("mh").hash_table()) == {None}


@given(st.sampled_from(["sh", "mh"]), st.lists(st.integers(1, 20), min_size=1, max_size=8))
def test_hash_tables_share_entries_by_weight(scheduler: str, weights: list[int]) -> None:
    """Both fill their table in rounds, each server taking ``weight`` entries a round in sh
    and ``weight / gcd`` in mh, so each holds whole rounds and at most one part round."""
    g = math.gcd(*weights) if scheduler == "mh" else 1
    table = model(scheduler, *weights).hash_table()
    rounds = len(table) // (sum(weights) // g)
    counts = Counter(table)
    assert None not in counts and sum(counts.values()) == len(table)
    for n, weight in enumerate(weights, start=1):
        turns = weight // g
        assert turns * rounds <= counts[f"10.0.0.{n}:80"] <= turns * (rounds + 1)


def test_mh_first_server_claims_its_own_offset_and_clients_hash_with_the_fixed_key() -> None:
    service = model("mh", 1, 1, 1)  # list 3, 2, 1: 3 claims first
    table = service.hash_table()
    assert table[mh_index(80 + int(ipaddress.ip_address("10.0.0.3")))] == "10.0.0.3:80"
    for last in range(1, 30):
        client = ipaddress.ip_address(f"198.51.100.{last}")
        assert service.connect(Connection(client)).server.endpoint == table[mh_index(int(client))]


def test_mh_port_and_fallback() -> None:
    service = model("mh", 1, 1, flags=["mh-port"])
    table = service.hash_table()
    for port in (1024, 40000, 65535):
        conn = Connection("192.0.2.1", port)
        assert service.connect(conn).server.endpoint == table[mh_index(0xC0000201 + port)]
    # drained to weight 0, a server keeps its entries (last_weight) but serves no one
    drained = model("mh", 1, 1)
    drained.edit(rs(2, 0))
    assert drained.hash_table() == model("mh", 1, 1).hash_table()
    clients = [Connection(f"198.51.100.{n}") for n in range(1, 40)]
    assert set(run(drained, clients)) == {"1", "-"}
    fallback = model("mh", 1, 1, flags=["mh-fallback"])
    fallback.edit(rs(2, 0))
    assert set(run(fallback, clients)) == {"1"}


# --- persistence ---------------------------------------------------------------------------


def test_persistence_netmask_groups_clients() -> None:
    clients = [Connection(a) for a in ("192.0.2.1", "192.0.2.99", "198.51.100.1")]
    assert seq(predict("rr", [rs(1), rs(2)], clients)) == "212"
    assert seq(predict("rr", [rs(1), rs(2)], clients, persistence=Persistence(60))) == "212"
    grouped = predict("rr", [rs(1), rs(2)], clients, persistence=Persistence(60, prefix=24))
    assert seq(grouped) == "221"
    assert [a.template for a in grouped] == [False, True, False]


@pytest.mark.parametrize(("later", "expected"), [(140, "22"), (160, "21")])
def test_a_lingering_entry_keeps_a_short_template_for_60_s_more(later: int, expected: str) -> None:
    # t=0 closes at once, but its entry stays until 120; the template's timer, due at 30,
    # finds it and is re-armed for 60 s: 90, then 150, when nothing holds it any more
    service = model("rr", 1, 1, persistence=Persistence(timeout=30))
    conns = [Connection("192.0.2.1", at=t, open=False) for t in (0, later)]
    assert run(service, conns) == expected


def test_a_template_lapses_with_its_server() -> None:
    service = model("rr", 1, 1, persistence=Persistence(timeout=300))
    assert run(service, same_client(1)) == "2"
    service.remove("10.0.0.2", 80)
    assert run(service, same_client(2)) == "11"


def test_a_drained_server_keeps_its_clients_unless_expire_quiescent() -> None:
    for quiescent, expected in ((False, "22"), (True, "21")):
        service = model("rr", 1, 1, persistence=Persistence(300, expire_quiescent=quiescent))
        assert run(service, same_client(1)) == "2"
        service.edit(rs(2, 0))
        assert run(service, same_client(1)) == expected[1]


def test_lc_counts_connections_not_templates() -> None:
    service = model("lc", 1, 1, persistence=Persistence(300))
    conns = [Connection(f"192.0.2.{n}") for n in (1, 2, 1, 3)]
    # the third follows its template to 2, which then has 512 against 256: 3 goes to 1
    assert run(service, conns) == "2121"
    assert [d.active_conns for d in service.servers] == [2, 2]


# --- the API -------------------------------------------------------------------------------


def test_split_counts_connections_per_server() -> None:
    assignments = predict("wrr", [rs(1, 3), rs(2, 0), rs(3, 1)], same_client(8))
    assert split(assignments) == {"10.0.0.1:80": 6, "10.0.0.3:80": 2}
    assert split(predict("rr", [rs(1, 0)], same_client(3))) == {}


@pytest.mark.parametrize("name", ["twos", "dh", "lblc", "fo", "ovf", "lblcr", "nosuch"])
def test_schedulers_not_modelled_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match=name):
        ServiceModel(name)


def test_misuse_is_refused() -> None:
    service = model("wlc", 1)
    with pytest.raises(UsageError, match="already"):
        service.add(rs(1))
    with pytest.raises(UsageError, match="not a real server"):
        service.remove("10.0.0.9", 80)
    with pytest.raises(UsageError, match="thresholds"):
        service.add(Destination(ipaddress.ip_address("10.0.0.5"), 80, upper_threshold=10))
    with pytest.raises(UsageError, match="no hash table"):
        service.hash_table()
