"""The digest maths, without sockets: genhash's rules as worked examples and properties."""

from __future__ import annotations

import doctest
import hashlib

import pytest
from corpus import BIG, CORPUS, HTML, NO_DATA
from hypothesis import given
from hypothesis import strategies as st

from cluster.errors import ProbeError
from cluster.probes import digest
from cluster.probes.digest import content_length, parse_response, request_bytes


def test_doctests() -> None:
    assert doctest.testmod(digest).failed == 0


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(
    ("name", "hashed"),
    [
        ("content-length", HTML),
        ("no-content-length", HTML),
        ("content-length-shorter", HTML[:12]),
        ("content-length-longer", HTML),
        ("empty-body", b""),
        ("empty-body-bytes-follow", b""),
        ("headers-only", b""),
        ("5MB", BIG),
        ("lowercase-content-length", HTML),
        ("content-length-not-a-number", HTML),
        ("content-length-in-body", b"Con"),
        ("nul-in-header", HTML),
    ],
)
def test_what_is_hashed(name: str, hashed: bytes) -> None:
    response = parse_response(CORPUS[name])
    assert response.hashed == hashed
    assert response.digest == md5(hashed)


def test_chunk_framing_is_hashed_as_sent() -> None:
    response = parse_response(CORPUS["chunked"])
    assert response.hashed.startswith(b"c\r\n<html><body\r\n17\r\n")
    assert response.hashes_chunk_framing
    assert any("chunk framing" in w for w in response.warnings)


@pytest.mark.parametrize(
    ("name", "status"), [("404", 404), ("301", 301), ("status-without-reason", 503)]
)
def test_status_is_read_but_not_hashed(name: str, status: int) -> None:
    response = parse_response(CORPUS[name])
    assert response.status == status
    assert response.is_error_page
    assert any(f"status {status}" in w for w in response.warnings)


def test_a_clean_page_has_no_warnings() -> None:
    assert parse_response(CORPUS["content-length"]).warnings == []


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        ("lowercase-content-length", "Content-Length header is ignored"),
        ("content-length-not-a-number", "Content-Length header is ignored"),
        ("content-length-longer", "only 35 body bytes arrived"),
    ],
)
def test_content_length_surprises_are_explained(name: str, warning: str) -> None:
    assert any(warning in w for w in parse_response(CORPUS[name]).warnings)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("bare-lf", "bare LF"), ("header-4096-bytes", "4095 bytes"), ("nothing", "without answering")],
)
def test_no_data_received(name: str, reason: str) -> None:
    with pytest.raises(ProbeError, match=f"no data received: .*{reason}"):
        parse_response(NO_DATA[name])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b" 3", 3), (b"3", 3), (b"\t3", 3), (b" +3", 3), (b" 010", 10), (b" -0", 0), (b" -3", None),
     (b" 3 ", None), (b" 3abc", None), (b" 0x10", None), (b"", None),
     (b" 18446744073709551615", None)],
)  # fmt: skip
def test_content_length_reads_like_keepalived(value: bytes, expected: int | None) -> None:
    """Measured against genhash 2.2.7 (tests/test_genhash_real.py checks a sample live)."""
    assert content_length(b"HTTP/1.0 200 OK\r\nContent-Length:" + value + b"\r\n\r\n") == expected


@given(body=st.binary(max_size=300), length=st.integers(min_value=0, max_value=400))
def test_the_cut_is_a_prefix(body: bytes, length: int) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length + body
    assert parse_response(raw).hashed == body[:length]


@given(body=st.binary(max_size=300))
def test_without_content_length_everything_after_the_first_blank_line(body: bytes) -> None:
    assert parse_response(b"HTTP/1.0 200 OK\r\n\r\n" + body).hashed == body


def test_verbose_report_shows_status_headers_and_digest() -> None:
    lines = parse_response(CORPUS["content-length-shorter"]).describe()
    assert lines[:2] == ["HTTP/1.1 200 OK", "Content-Length: 12"]
    assert "35 bytes received, 12 hashed, cut at Content-Length 12" in lines[3]
    assert lines[-1] == md5(HTML[:12])


@pytest.mark.parametrize(
    ("args", "host", "extra"),
    [
        (("10.0.0.2", 80), b"10.0.0.2:80", b""),
        (("::1", 8080), b"[::1]:8080", b""),
        (("10.0.0.2", 80, "1.0c"), b"10.0.0.2:80", b"Connection: close\r\n"),
        (("10.0.0.2", 443, "1.0", "www.example.test"), b"www.example.test", b""),
    ],
)
def test_request_bytes(args: tuple, host: bytes, extra: bytes) -> None:
    assert request_bytes("/x", *args) == (
        b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n"
        + extra
        + b"Host: "
        + host
        + b"\r\n\r\n"
    )
