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


@pytest.fixture(autouse=True, scope="session")
def _check_references_in_a_temporary_folder(tmp_path_factory):
    """The answer checks' on-disk reference cache goes to a folder of this session,
    never into the user's cache."""
    import os

    previous = os.environ.get("COURSE_CHECK_CACHE_DIR")
    os.environ["COURSE_CHECK_CACHE_DIR"] = str(tmp_path_factory.mktemp("check-references"))
    yield
    if previous is None:
        os.environ.pop("COURSE_CHECK_CACHE_DIR", None)
    else:
        os.environ["COURSE_CHECK_CACHE_DIR"] = previous
