"""The two engines of ``course_utils.combine``, for tests that run on both.

A test module that imports ``backend`` from here runs every one of its
tests twice: on the numba kernels and on the numpy engine (the fixture sets
``COURSE_UTILS_BACKEND``, which ``backend='auto'`` reads). Without a usable
numba the numba runs are skipped with that reason, except in CI
(``CI=true``), whose environment pins numba: there they fail.
"""

from __future__ import annotations

import os

import pytest


def _numba_usable() -> bool:
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001  (a broken numba fails in many ways)
        return False
    return True


NUMBA = _numba_usable()
#: Marks a test that needs numba: skipped without it, except in CI.
needs_numba = pytest.mark.skipif(not NUMBA and os.environ.get("CI", "").lower() != "true",
                                 reason="numba is not usable")


@pytest.fixture(
    autouse=True,
    params=[pytest.param("numba", marks=needs_numba), "numpy"],
)
def backend(request, monkeypatch):
    """Every test of the module runs on both engines."""
    monkeypatch.setenv("COURSE_UTILS_BACKEND", request.param)
    return request.param
