"""The package's one progress bar: a widget in a notebook, text in a terminal.

A plain tqdm bar writes to stderr, which Jupyter shows in pink, like an
error; in a notebook the bar is therefore drawn as a widget (tqdm.notebook)
when ipywidgets is installed (Colab has ipywidgets 7.7.1 with IPython 7.34;
the course's JupyterLab environment pins ipywidgets 8). A kernel where the
widget cannot be made (no ipywidgets, or one tqdm cannot use) gets a text bar
on stdout instead: plain text, not in the error colour. In a terminal it is
the usual text bar on stderr. ``TQDM_DISABLE=1`` in the environment hides
every bar (the course's builds set it, so that stored outputs hold none).

Examples
--------
>>> from course_utils.progress import progress_bar
>>> with progress_bar(total=3, desc="Reading", enabled=False) as bar:
...     for _ in range(3):
...         bar.update()
"""

from __future__ import annotations

import sys

__all__ = ["progress_bar", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab), False elsewhere."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return False
    shell = shell_module.get_ipython()
    # Colab's shell subclasses ipykernel's; a terminal IPython is not one.
    return shell is not None and any(
        cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__
    )


def progress_bar(*, total: int, desc: str, unit: str = "file", initial: int = 0,
                 leave: bool = False, enabled: bool = True):
    """A tqdm progress bar of ``total`` steps, drawn where it belongs.

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        What is being done, shown before the bar.
    unit : str, optional
        The name of one step.
    initial : int, optional
        Steps already done.
    leave : bool, optional
        Keep the finished bar on screen (default: it disappears).
    enabled : bool, optional
        False gives a bar that draws nothing (same interface).

    Returns
    -------
    tqdm.tqdm
        Use it as a context manager, or call ``close()`` when done.
    """
    options = dict(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    if not enabled:
        options["disable"] = True
    from tqdm import tqdm

    if not in_notebook():
        return tqdm(file=sys.stderr, **options)
    from tqdm import notebook

    # tqdm.notebook imports without ipywidgets, leaving IProgress None; a bar
    # made then raises ImportError, and its clean-up prints a traceback.
    if getattr(notebook, "IProgress", None) is not None:
        return notebook.tqdm(**options)
    return tqdm(file=sys.stdout, **options)
