"""The lab's kernel keeps every task's registers, and sees the package wherever it lives.

On the ``uml`` kernel every task switch in the guest is UML saving and restoring registers
through ptrace, and on AVX-512/AMX hosts through the lab's register fix-up
(``cluster/lab/uml_xstate.c``). A fault there shows as wrong results, not as a crash: these
tests compare results computed in the guest, many tasks at once, with the host's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs import require

from cluster.lab import Lab

PROGRAMS = Path(__file__).parents[1] / "programs"

# chaotic, so a single wrong bit in any register that Python's floats pass through changes
# the printed result; sha512 and zlib run OpenSSL's and zlib's vector code
WORK = """
import hashlib, math, sys, zlib
seed = int(sys.argv[1])
x, acc = 0.1 + seed / 100, 0.0
for i in range(150_000):
    x = 3.99 * x * (1 - x)
    acc += math.sin(x) * math.exp(-x) / (1 + i % 7)
data = bytes((i * seed) % 251 for i in range(200_000))
print(seed, repr(acc), hashlib.sha512(data).hexdigest()[:32], zlib.crc32(zlib.compress(data, 9)))
"""


def test_parallel_work_in_the_guest_matches_the_host(lab: Lab) -> None:
    seeds = range(1, 7)
    expected = sorted(
        subprocess.run([sys.executable, "-c", WORK, str(s)], capture_output=True, text=True,
                       check=True).stdout
        for s in seeds
    )  # fmt: skip
    python = lab.python
    runs = " ".join(f'{python} -c "$WORK" {s} >/tmp/work.{s} &' for s in seeds)
    script = f"export WORK='{WORK}'; {runs} wait; cat /tmp/work.*"
    out = lab.sh("realserver1", script, timeout=300).check().stdout
    assert sorted(line + "\n" for line in out.splitlines()) == expected


@pytest.fixture(scope="module")
def regcheck(lab: Lab) -> str:
    """tests/programs/regcheck.c, built on the host into the share the guest reads."""
    require(shutil.which("gcc") is not None, "gcc is missing (scripts/setup.sh installs it)")
    binary = lab.paths.share / "bin" / "regcheck"
    binary.parent.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-O1", "-pthread", "-o", binary, PROGRAMS / "regcheck.c"],
                   check=True)  # fmt: skip
    os.chmod(binary, 0o755)
    return str(binary)


def test_threads_and_processes_keep_their_vector_registers(lab: Lab, regcheck: str) -> None:
    """Four processes of four threads, each yielding the CPU 64 times per round with a 1 ms
    timer signal arriving: every register of every task must come back as it was loaded."""
    done = lab.run("client1", regcheck, "4", "4", "300", timeout=300)
    assert done.rc == 0, done.stdout + done.stderr
    assert done.stdout.count(", 0 wrong") == 4, done.stdout
    clobbered = lab.run("client1", regcheck, "2", "1", "3", "clobber", timeout=60)
    assert clobbered.rc == 1 and "register 1 came back wrong" in clobbered.stdout
