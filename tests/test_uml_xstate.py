"""The UML register fix-up (``cluster/lab/uml_xstate.c``), tested on whatever host this is.

UML on AVX-512/AMX hosts reads and writes a shorter xstate buffer than the host's full size;
the host refuses the short write. ``tests/programs/xstate_check.c`` plays UML's part: a
tracer that stops a child holding known values in every vector register, reads and writes a
short buffer (changing xmm0 in it), and lets the child check its registers. Any host with
AVX has a full size above 576 bytes, so the short path runs here even without AVX-512.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from needs import require

from cluster.lab.uml import xstate_fixup

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("gcc") is not None, "gcc is missing (scripts/setup.sh installs it)")
    where = tmp_path_factory.mktemp("xstate")
    library = xstate_fixup(lambda _: None, cache=where)
    check = where / "xstate_check"
    subprocess.run(["gcc", "-O1", "-o", check, PROGRAMS / "xstate_check.c"], check=True)
    return library, check


def run(check: Path, short: int, *extra: str, preload: Path | None = None) -> tuple[int, str]:
    env = {**os.environ, **({"LD_PRELOAD": str(preload)} if preload else {})}
    done = subprocess.run(
        [check, str(short), *extra], capture_output=True, text=True, env=env, check=False
    )
    return done.returncode, done.stdout


def full_size(check: Path) -> int:
    _, out = run(check, 1 << 16)
    found = re.search(r"host xstate size (\d+)", out)
    assert found, out
    return int(found[1])


def short_sizes(full: int) -> list[int]:
    """The legacy area and header alone (576), and UML's classic 832 where that is short."""
    return [n for n in (576, 832) if n < full]


def test_the_host_refuses_a_short_write(built: tuple[Path, Path]) -> None:
    """Without the fix-up, what UML does fails: this is the panic's cause."""
    _, check = built
    full = full_size(check)
    require(full > 576, f"this host's full xstate is {full} bytes: nothing is short of it")
    for short in short_sizes(full):
        rc, out = run(check, short)
        assert rc == 2 and "refused: Bad address" in out, out


def test_the_fixup_keeps_every_register_whole(built: tuple[Path, Path]) -> None:
    library, check = built
    full = full_size(check)
    require(full > 576, f"this host's full xstate is {full} bytes: nothing is short of it")
    for short in [*short_sizes(full), full]:
        rc, out = run(check, short, preload=library)
        assert rc == 0 and "whole" in out, f"{short} bytes: {out}"


def test_padding_with_zeros_would_corrupt_the_registers(built: tuple[Path, Path]) -> None:
    """The naive fix loses the upper halves: the check sees it, so it can fail."""
    _, check = built
    rc, out = run(check, 576, "zero-pad")
    assert rc == 1 and "WRONG" in out, out
