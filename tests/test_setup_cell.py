"""The set-up cell: installs course_utils only when it is really missing, quietly,
and stops loudly, with one short error, when the install fails.

Most tests run the cell's source in a fresh interpreter whose ``sys.executable``
is a stand-in for the kernel's Python: it records the pip command, and then
"installs" course_utils or fails with the message it is given. One test runs
the cell as a student does: in a Jupyter kernel, with the real pip and git,
against a repository that lacks the release tag.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("course_notebook_tool_setup", ROOT / "tools" / "notebooks.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

#: What pip prints when the repository has no such tag (pip 24, git 2.4x).
MISSING_TAG = """\
  Running command git clone --filter=blob:none --quiet https://github.com/org/fork /tmp/pip-req-build-x
  error: subprocess-exited-with-error
  error: pathspec 'v{version}' did not match any file(s) known to git

  × git checkout -q v{version} did not run successfully.
  │ exit code: 1
  ╰─> See above for output.

note: This error originates from a subprocess, and is likely not a problem with pip.
"""

#: The stand-in for the kernel's Python (run as ``python -m pip install ...``).
FAKE_PYTHON = """\
#!{python}
import os, pathlib, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(repr(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_PIP_ERROR"):
    sys.stderr.write(os.environ["FAKE_PIP_ERROR"])
    sys.exit(1)
package = pathlib.Path(os.environ["FAKE_SITE"]) / "course_utils"
package.mkdir(exist_ok=True)
(package / "__init__.py").write_text("__version__ = 'installed'")
"""

#: Runs the cell, then what a later cell would do: ``import course_utils``.
#: Run a second time (``rerun``), the cell sees a pip that works.
HARNESS = """
import json, os, sys
site, fake, cell, rerun = sys.argv[1:5]
if site:
    sys.path.insert(0, site)
sys.executable = fake
report = {}
def run(key, code):
    try:
        exec(compile(code, key, "exec"), {})
        report[key] = "ok"
    except BaseException as error:
        report[key] = f"{type(error).__name__}: {error}"
source = open(cell).read()
run("cell", source)
run("later cell", "import course_utils")
if rerun == "yes":
    os.environ.pop("FAKE_PIP_ERROR")
    run("cell again", source)
    run("later cell again", "import course_utils; assert course_utils.__version__ == 'installed'")
print(json.dumps(report))
"""


def run_cell(tmp_path: Path, isolated: bool, pip_error: str = "", rerun: bool = False,
             source: str | None = None) -> tuple[dict, list[str], str]:
    """Run the set-up cell; return what happened, the pip commands, and what it printed.

    ``isolated``: the interpreter sees no installed course_utils (``-I -S``:
    only the standard library and an empty folder).
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    cell = tmp_path / "cell.py"
    cell.write_text(source or tool.setup_source())
    log = tmp_path / "pip.log"
    env = {**os.environ, "FAKE_LOG": str(log), "FAKE_SITE": str(site), "FAKE_PIP_ERROR": pip_error,
           "MPLBACKEND": "Agg"}
    flags = ["-I", "-S"] if isolated else []
    result = subprocess.run(
        [sys.executable, *flags, "-c", HARNESS, str(site) if isolated else "", str(fake),
         str(cell), "yes" if rerun else "no"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines() if log.exists() else []
    *printed, last = result.stdout.splitlines()
    return json.loads(last), lines, result.stderr + "\n".join(printed)


def test_an_installed_course_utils_is_used_as_it_is(tmp_path):
    report, commands, printed = run_cell(tmp_path, isolated=False)
    assert report == {"cell": "ok", "later cell": "ok"}
    assert commands == [] and printed == ""


def test_a_missing_course_utils_is_installed_from_the_release_tag_silently(tmp_path):
    report, commands, printed = run_cell(tmp_path, isolated=True)
    assert report == {"cell": "ok", "later cell": "ok"}
    url, version = tool.repository_url(), tool.course_version()
    # The kernel's own Python runs pip (as %pip does), quietly.
    assert commands == [repr(["-m", "pip", "install", "--quiet", "--no-color",
                              f"course_utils @ git+{url}@v{version}"])]
    assert printed == ""


def test_leftovers_of_an_uninstall_do_not_count_as_installed(tmp_path):
    # pip uninstall leaves numba's cache files behind: course_utils/__pycache__
    # alone imports as an empty namespace package.
    leftover = tmp_path / "site" / "course_utils" / "__pycache__"
    leftover.mkdir(parents=True)
    (leftover / "_kernels.kernel-1.py313.nbi").write_bytes(b"\0")
    report, commands, _ = run_cell(tmp_path, isolated=True)
    assert report == {"cell": "ok", "later cell": "ok"}
    assert len(commands) == 1


def test_a_failed_install_stops_with_one_short_error_naming_repository_and_release(tmp_path):
    url, version = "https://github.com/org/fork", "1.2.3"
    source = tool.setup_source(url=url, version=version)
    report, _, printed = run_cell(tmp_path, isolated=True, source=source,
                                  pip_error=MISSING_TAG.format(version=version))
    error = report["cell"]
    assert error.startswith("RuntimeError: course_utils v1.2.3 could not be installed from "
                            "https://github.com/org/fork.")
    # pip's cause, not its last line ("note: This error originates ...") nor
    # its generic "subprocess-exited-with-error".
    assert "pip said: error: pathspec 'v1.2.3' did not match any file(s) known to git" in error
    assert "tell your instructor" in error and "run this cell again" in error
    assert len(error.splitlines()) == 2
    assert printed == ""  # pip's own output is not dumped on the student


def test_no_later_cell_runs_half_set_up_and_running_the_cell_again_recovers(tmp_path):
    report, commands, _ = run_cell(tmp_path, isolated=True, rerun=True,
                                   pip_error="ERROR: Could not find a version\n")
    # A later cell's import names the set-up cell's failure, not a bare ModuleNotFoundError.
    assert report["later cell"].startswith("ImportError: course_utils v")
    assert "could not be installed" in report["later cell"]
    assert "pip said: ERROR: Could not find a version" in report["later cell"]
    # Once the install works, the same cell sets up the kernel: the hook is gone.
    assert report["cell again"] == "ok" and report["later cell again"] == "ok"
    assert len(commands) == 2


def test_a_pip_that_says_nothing_still_gives_a_clear_error(tmp_path):
    report, _, _ = run_cell(tmp_path, isolated=True, pip_error="\n")
    assert "pip said: (nothing)" in report["cell"]


def test_the_cell_uses_no_pip_magic_and_no_shell_escape():
    # %pip always prints "Note: you may need to restart the kernel to use
    # updated packages", untrue here; `!pip` hides pip's exit status.
    source = tool.setup_source()
    assert "%pip" not in source
    assert not any(line.lstrip().startswith("!") for line in source.splitlines())
    compile(source, "setup-cell", "exec")  # plain Python


@pytest.mark.parametrize("url", ["file:///tmp/clone", "https://github.com/org/fork",
                                 "http://127.0.0.1:8000/course.git"])
def test_the_address_can_be_another_copy(url):
    source = tool.setup_source(url=url, version="1.2.3")
    assert f'"course_utils @ git+{url}@v1.2.3"' in source
    assert f"course_utils v1.2.3 could not be installed from {url}. " in source


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost",
                    *args], check=True, capture_output=True)


def test_in_a_kernel_a_missing_release_stops_run_all_at_the_set_up_cell(tmp_path, monkeypatch):
    """The real path: Jupyter kernel, pip and git, a repository without the tag."""
    repo = tmp_path / "fork"
    (repo / "course_utils").mkdir(parents=True)
    (repo / "course_utils" / "__init__.py").write_text('__version__ = "9.9.9"\n')
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(repo)], check=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "no release yet")
    # This kernel must not find the installed course_utils: a package earlier
    # on its path that cannot be imported stands for "not installed".
    hide = tmp_path / "hide" / "course_utils"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('not installed here')\n")
    marker = tmp_path / "later-cell-ran"
    nb = nbformat.v4.new_notebook(cells=[
        # file://localhost/...: pip 23's requirement parser rejects file:///.
        nbformat.v4.new_code_cell(tool.setup_source(url=f"file://localhost{repo}", version="9.9.9")),
        nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').close()"),
    ])
    monkeypatch.setenv("PYTHONPATH", str(hide.parent))  # the kernel's environment
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not marker.exists(), "a cell after the failed set-up ran"
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "RuntimeError"
    assert error.evalue.startswith(
        f"course_utils v9.9.9 could not be installed from file://localhost{repo}.")
    assert "did not match any file(s) known to git" in error.evalue
    assert "tell your instructor" in error.evalue
    assert not [o for o in nb.cells[0].outputs if o.output_type == "stream"]
