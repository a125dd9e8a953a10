"""``require``: skip a test, with the reason, when the machine lacks what it needs.

A module of its own rather than a conftest function, so that test modules in any folder
import the one definition (``from needs import require``). In CI every skip becomes a failure
(see conftest.py), so a skip there cannot hide a missing install step.
"""

from __future__ import annotations

import pytest


def require(condition: bool, reason: str) -> None:
    if not condition:
        pytest.skip(reason)
