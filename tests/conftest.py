"""Shared pytest set-up: a non-interactive matplotlib backend and figure clean-up."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test opened, so that tests stay independent."""
    yield
    plt.close("all")
