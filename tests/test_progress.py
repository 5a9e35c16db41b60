"""The progress bar in a real Jupyter kernel: a widget, or clean text without ipywidgets.

Colab has ipywidgets 7.7.1 and IPython 7.34 (``make compat COMPAT=colab`` runs
the notebooks there, bars shown); these tests run this environment's kernel,
once as it is and once with ipywidgets unimportable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

CELL = """\
from course_utils.progress import progress_bar
with progress_bar(total=3, desc="Reading", leave=True) as bar:
    for _ in range(3):
        bar.update()
"""


def run_in_kernel(tmp_path, monkeypatch, hide_ipywidgets: bool) -> list[dict]:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # the builds hide every bar
    if hide_ipywidgets:
        stub = tmp_path / "hide" / "ipywidgets"
        stub.mkdir(parents=True)
        (stub / "__init__.py").write_text("raise ImportError('no ipywidgets here')\n")
        monkeypatch.setenv("PYTHONPATH", str(stub.parent))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb.cells[0].outputs


def test_in_a_notebook_the_bar_is_a_widget_and_writes_nothing_to_stderr(tmp_path, monkeypatch):
    outputs = run_in_kernel(tmp_path, monkeypatch, hide_ipywidgets=False)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert not [o for o in outputs if o.get("name") == "stderr" or o.output_type == "error"]


def test_without_ipywidgets_the_bar_is_text_on_stdout(tmp_path, monkeypatch):
    outputs = run_in_kernel(tmp_path, monkeypatch, hide_ipywidgets=True)
    assert not [o for o in outputs if o.get("name") == "stderr" or o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "Reading: 100%" in text and "3/3" in text


@pytest.mark.parametrize("enabled", [True, False])
def test_outside_a_notebook_the_bar_is_text_on_stderr(enabled):
    # tqdm reads TQDM_DISABLE when it is imported, so the bar runs in a fresh
    # process whose environment lacks it (make sets it for the whole run).
    code = ("from course_utils.progress import progress_bar\n"
            f"with progress_bar(total=2, desc='Combining', leave=True, enabled={enabled}) as bar:\n"
            "    bar.update(2)\n")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    assert done.stdout == ""
    assert ("Combining: 100%" in done.stderr) is enabled
