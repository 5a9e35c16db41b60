"""Run one notebook top to bottom in this Python and report on it as JSON.

Run by ``tools/compat.py`` with the Python of a throwaway environment (it needs
only nbclient, nbformat and ipykernel there, as Colab has). A notebook fails on
the first error, and on any output to stderr other than a progress bar: a
warning that a student would see is a failure too.

Usage::

    python tools/compat_notebook.py NOTEBOOK.ipynb   # prints one JSON object
"""

from __future__ import annotations

import json
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

#: A progress bar's line (tqdm's format: "label:  40%|####      | 4/10 [00:01<00:02, ...]").
PROGRESS = re.compile(r"^[^\n]*\d+%\|[^\n]*\|[^\n]*$")


def is_progress(text: str) -> bool:
    """True if ``text`` holds only progress-bar lines (and blank ones).

    >>> is_progress("frames:  40%|####      | 4/10 [00:01<00:02,  2.1it/s]\\r")
    True
    >>> is_progress("UserWarning: something")
    False
    """
    pieces = [p.strip() for p in re.split(r"[\r\n]+", text)]
    return all(not p or PROGRESS.match(p) for p in pieces)


def problems_of(nb) -> list[str]:
    """Every stderr output that is not a progress bar, named by its cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                if not is_progress(text):
                    found.append(f"cell {index} wrote to stderr: {text.strip()[:500]}")
    return found


def run(path: str, timeout: int = 900) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": "."}})
    start = time.perf_counter()
    try:
        client.execute()
        problems = problems_of(nb)
    except CellExecutionError as error:
        problems = problems_of(nb) + [f"a cell raised an error:\n{str(error)[-2000:]}"]
    except Exception as error:  # the kernel died, a timeout: report, don't hide
        problems = problems_of(nb) + [f"{type(error).__name__}: {error}"]
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)  # the executed copy, to read when something failed
    return {"notebook": path, "ok": not problems, "seconds": round(seconds, 1),
            "problems": problems}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1])))
