"""Lab tests share the lab at its default state directory, so they run one after the other.

They need root (tests/conftest.py skips them elsewhere). One lab serves a whole module,
because a guest boot costs seconds. Tests that boot guests of their own, at state
directories of their own, live in tests/guests/ and run beside these.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster.lab import Lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    handle = Lab.up()
    yield handle
    handle.close()
    Lab.down()
