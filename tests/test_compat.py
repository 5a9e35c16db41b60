"""The compatibility runs' definitions (``make compat``; tools/compat.py).

The runs themselves take minutes and need the network for pip: CI runs them
(``.ci/run``: the Colab environment; the compat and weekly workflows: all
three). These tests check what they are built from.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"course_{name}_tool", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


compat = _load("compat")
runner = _load("compat_notebook")


def test_colab_versions_say_where_they_come_from_and_when():
    text = compat.COLAB_FILE.read_text()
    assert re.search(r"^# Source: .*Colab", text, flags=re.MULTILINE)
    assert re.search(r"^# Last updated: \d{4}-\d{2}-\d{2}$", text, flags=re.MULTILINE)
    env = compat.colab_environment()
    assert env.python == "3.13"
    pins = dict(r.split("==") for r in env.requirements if "==" in r)
    assert pins == {"numpy": "2.1.3", "astropy": "7.2.2", "matplotlib": "3.10.0",
                    "numba": "0.61.2"}
    assert env.install == "setup-cell"


def test_a_colab_file_without_its_date_is_rejected(tmp_path):
    path = tmp_path / "colab.txt"
    path.write_text("# python: 3.13\nnumpy==2.1.3\n")
    with pytest.raises(ValueError, match="Last updated"):
        compat.colab_environment(path)


def test_oldest_pins_every_lower_bound_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = compat.oldest_environment()
    assert env.python == project["requires-python"].removeprefix(">=")
    declared = project["dependencies"] + project["optional-dependencies"]["fast"]
    assert sorted(env.requirements) == sorted(d.replace(">=", "==") for d in declared)
    assert "numpy==1.26" in env.requirements and "numba==0.59" in env.requirements


def test_newest_is_unpinned():
    env = compat.newest_environment()
    assert env.requirements and not any(set("<>=!~") & set(r) for r in env.requirements)


def test_changed_packages_names_upgrades_and_removals_not_additions():
    before = {"numpy": "2.1.3", "astropy": "7.2.2", "tqdm": "4.67.1"}
    after = {"numpy": "2.3.0", "tqdm": "4.67.1", "pooch": "1.8.2", "course-utils": "0.1.0"}
    assert compat.changed_packages(before, after) == ["astropy 7.2.2 -> removed",
                                                      "numpy 2.1.3 -> 2.3.0"]
    assert compat.changed_packages(before, {**before, "pooch": "1.8.2"}) == []


@pytest.mark.parametrize("text, progress", [
    ("\rGenerating the synthetic course dataset (full):  35%|###5      | 22/63 [00:01<00:02, 16.2file/s]", True),
    ("\r\n", True),
    ("UserWarning: the world is flat\n", False),
    ("  5%|5 | 1/20 [00:00<00:01]\nDeprecationWarning: x\n", False),
])
def test_only_progress_bars_may_write_to_stderr(text, progress):
    assert runner.is_progress(text) is progress


def test_every_environment_runs_every_student_notebook(tmp_path):
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "notebooks" / "student").symlink_to(ROOT / "notebooks" / "student")
    copies = compat._student_notebooks(clone, tmp_path / "run", "9.9.9")
    assert [c.name for c in copies] == sorted(
        p.name for p in (ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))
    text = copies[0].read_text()
    assert f"git+file://{clone}@v9.9.9" in text
