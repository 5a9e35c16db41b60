"""The package's one progress bar: a widget in a notebook, text in a terminal.

A plain tqdm bar writes to stderr, which Jupyter shows in pink, like an
error; in a notebook the bar is therefore drawn as a widget (tqdm.notebook)
when ipywidgets is installed (Colab has it; the course's JupyterLab
environment pins it). In a terminal, or a kernel without ipywidgets, it is
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

import importlib.util
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
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(**options)
    from tqdm import tqdm

    return tqdm(file=sys.stderr, **options)
