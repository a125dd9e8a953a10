"""Lab tests build the real lab (namespaces; the UML guest when the host kernel lacks IPVS).

They need root; elsewhere they skip with the reason. One lab serves a whole module, because a
guest boot costs seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cluster.lab import Lab

pytestmark = pytest.mark.root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="lab tests need root (network namespaces, a UML guest)")
        for item in items:
            if "tests/lab/" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    handle = Lab.up()
    yield handle
    handle.close()
    Lab.down()
