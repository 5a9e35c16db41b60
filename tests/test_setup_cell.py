"""The set-up cell: installs course_utils only when it is really missing, quietly.

The cell is IPython code (``!`` runs pip), so the tests turn it into Python with
IPython's own transformer and run it in a fresh interpreter where
``get_ipython().system`` records the command instead of running it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("course_notebook_tool_setup", ROOT / "tools" / "notebooks.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

RUN = """
import builtins, json, pathlib, sys
commands = []
class Shell:
    def system(self, command):  # records the command, and "installs" a package
        commands.append(command)
        package = pathlib.Path(sys.path[0]) / "course_utils"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("__version__ = 'installed'")
builtins.get_ipython = Shell
exec(compile(open(sys.argv[1]).read(), "setup-cell", "exec"), {"get_ipython": Shell})
import course_utils
assert course_utils.__version__ == ("installed" if commands else course_utils.__version__)
print(json.dumps(commands))
"""


def run_setup_cell(tmp_path: Path, isolated_path: Path | None) -> list[str]:
    """The shell commands the set-up cell runs; ``isolated_path``: the only import folder."""
    code = tmp_path / "cell.py"
    code.write_text(TransformerManager().transform_cell(tool.setup_source()))
    # With -S (no site-packages, so no installed course_utils) and -I (no
    # PYTHONPATH), sys.path is the standard library plus isolated_path.
    prefix = [] if isolated_path is None else ["-I", "-S"]
    script = RUN if isolated_path is None else f"import sys; sys.path.insert(0, {str(isolated_path)!r})\n" + RUN
    result = subprocess.run([sys.executable, *prefix, "-c", script, str(code)],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_an_installed_course_utils_is_used_as_it_is(tmp_path):
    assert run_setup_cell(tmp_path, None) == []


def test_a_missing_course_utils_is_installed_from_the_release_tag(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (command,) = run_setup_cell(tmp_path, empty)
    url, version = tool.repository_url(), tool.course_version()
    assert command.endswith(f'-m pip install --quiet "course_utils @ git+{url}@v{version}"')
    # IPython expands {sys.executable} (as in Colab): pip runs in the kernel's own Python.
    assert command.startswith("{sys.executable} -m pip")


def test_leftovers_of_an_uninstall_do_not_count_as_installed(tmp_path):
    # pip uninstall leaves numba's cache files behind: course_utils/__pycache__
    # alone imports as an empty namespace package.
    site = tmp_path / "site"
    (site / "course_utils" / "__pycache__").mkdir(parents=True)
    (site / "course_utils" / "__pycache__" / "_kernels.kernel-1.py313.nbi").write_bytes(b"\0")
    (command,) = run_setup_cell(tmp_path, site)
    assert "pip install" in command


def test_the_cell_uses_no_pip_magic():
    # %pip always prints "Note: you may need to restart the kernel to use
    # updated packages", untrue here and alarming to students.
    assert "%pip" not in tool.setup_source()


@pytest.mark.parametrize("url", ["file:///tmp/clone", "https://github.com/org/fork"])
def test_the_address_can_be_another_copy(url):
    assert f'"course_utils @ git+{url}@v1.2.3"' in tool.setup_source(url=url, version="1.2.3")
