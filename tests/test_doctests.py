"""The examples in course_utils' docstrings run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import course_utils

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(course_utils.__path__, prefix="course_utils.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", ["course_utils", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
