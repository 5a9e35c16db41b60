"""The compatibility runs' definitions (``make compat``; tools/compat.py).

The runs themselves take minutes and need the network for pip: CI runs them
(``.ci/run``: the Colab environment; the compat and weekly workflows: all
three). These tests check what they are built from.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
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
    assert "googlecolab/backend-info" in text
    env = compat.colab_environment()
    assert env.python == "3.13"
    pins = dict(r.split("==") for r in env.requirements if "==" in r)
    assert pins == {"numpy": "2.1.3", "astropy": "7.2.2", "matplotlib": "3.10.0",
                    "numba": "0.61.2",
                    # Colab's kernel side: what the set-up cell and the progress bar run on.
                    "IPython": "7.34.0", "ipykernel": "6.17.1", "ipywidgets": "7.7.1",
                    "jupyter_client": "7.4.9", "traitlets": "5.7.1", "tqdm": "4.67.3",
                    "requests": "2.32.4", "filelock": "3.32.3", "pooch": "1.9.0"}
    assert len(pins) == len(env.requirements), "an unpinned Colab package"
    # The pip that runs the set-up cell's install is Colab's, installed first.
    assert env.bootstrap == ["pip==24.1.2", "setuptools==75.2.0"]
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
    url = "http://127.0.0.1:9/course.git"
    copies = compat._student_notebooks(clone, tmp_path / "run", "9.9.9", url)
    assert [c.name for c in copies] == sorted(
        p.name for p in (ROOT / "notebooks" / "student").glob("[0-9][0-9]_*.ipynb"))
    text = copies[0].read_text()
    assert f"git+{url}@v9.9.9" in text


# --- The repository served as GitHub serves it ---------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@localhost", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """make_served's result for this repository's HEAD, served on the loopback."""
    folder = tmp_path_factory.mktemp("compat") / "served"
    course, untagged, version = compat.make_served(folder)
    server, base = compat.serve_repositories(folder)
    yield course, untagged, version, base
    server.shutdown()


def test_the_served_repository_is_tagged_by_the_release_workflows_step(served):
    course, untagged, version, _ = served
    head = git(course, "rev-parse", "HEAD").strip()
    assert git(course, "rev-parse", f"v{version}^{{commit}}").strip() == head
    assert git(course, "cat-file", "-t", f"v{version}").strip() == "tag"  # annotated
    assert git(course, "tag", "--list").split() == [f"v{version}"]  # no tag of this checkout
    assert git(untagged, "tag", "--list") == ""
    assert git(untagged, "rev-parse", "HEAD").strip() == head


def test_git_and_pip_install_over_smart_http_as_from_github(served, tmp_path):
    course, _, version, base = served
    url = f"{base}/{course.name}"
    # The smart protocol (not the dumb one): the service advertisement answers.
    refs = subprocess.run(["git", "ls-remote", "--tags", url], capture_output=True, text=True,
                          check=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}).stdout
    assert f"refs/tags/v{version}" in refs
    # A partial clone at the tag, as pip makes it.
    clone = tmp_path / "student"
    subprocess.run(["git", "clone", "--quiet", "--filter=blob:none", "--branch", f"v{version}",
                    url, str(clone)], check=True, capture_output=True)
    assert compat.notebook_tool.course_version() in (clone / "course_utils" / "__init__.py").read_text()


def test_pip_installs_a_package_from_a_served_tag_and_fails_on_a_missing_one(tmp_path):
    package = tmp_path / "repos" / "tiny.git"
    work = tmp_path / "tiny"
    (work / "tiny").mkdir(parents=True)
    (work / "tiny" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    (work / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "1.0.0"\n')
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "tiny")
    git(work, "tag", "--annotate", "v1.0.0", "-m", "1.0.0")
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(package)], check=True)
    server, base = compat.serve_repositories(tmp_path / "repos")
    try:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--no-build-isolation", "--target", str(tmp_path / "site")]
        environ = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        done = subprocess.run([*pip, f"tiny @ git+{base}/tiny.git@v1.0.0"],
                              capture_output=True, text=True, env=environ)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "site" / "tiny" / "__init__.py").is_file()
        missing = subprocess.run([*pip, f"tiny @ git+{base}/tiny.git@v2.0.0"],
                                 capture_output=True, text=True, env=environ)
        assert missing.returncode != 0
        assert "v2.0.0" in missing.stderr
    finally:
        server.shutdown()


# --- The missing-release case ---------------------------------------------------------


def _executed(setup_outputs: list, later_outputs: list | None = None):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("setup"),
                                         nbformat.v4.new_code_cell(compat.LATER_CELL)])
    nb.cells[0].outputs = setup_outputs
    nb.cells[1].outputs = later_outputs or []
    return nb


URL = "http://127.0.0.1:9/untagged.git"
CLEAR = (f"course_utils v1.2.3 could not be installed from {URL}. pip said: error: pathspec "
         "'v1.2.3' did not match any file(s) known to git\nIs the release v1.2.3 published "
         "there? If not, tell your instructor; otherwise check the internet connection.")


def test_the_missing_release_case_passes_only_on_the_clear_error():
    error = nbformat.v4.new_output("error", ename="RuntimeError", evalue=CLEAR, traceback=[])
    assert compat.missing_release_problems(_executed([error]), URL, "1.2.3") == []
    # A later cell that ran, a bare ModuleNotFoundError, or no error at all fail.
    ran = [nbformat.v4.new_output("stream", name="stdout", text="a later cell ran\n")]
    assert "a cell after the failed set-up cell ran" in compat.missing_release_problems(
        _executed([error], ran), URL, "1.2.3")
    bare = nbformat.v4.new_output("error", ename="ModuleNotFoundError",
                                  evalue="No module named 'course_utils'", traceback=[])
    assert compat.missing_release_problems(_executed([bare]), URL, "1.2.3")
    assert compat.missing_release_problems(_executed([]), URL, "1.2.3")
    vague = nbformat.v4.new_output("error", ename="RuntimeError", evalue="failed", traceback=[])
    assert len(compat.missing_release_problems(_executed([vague]), URL, "1.2.3")) == 3
