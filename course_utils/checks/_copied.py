"""Answers that are right for another student's dataset, not for the student's own.

Private to :mod:`course_utils.checks`. Every student may have a dataset of
their own (:mod:`course_utils.data.students`), and the checks judge against
the dataset the notebook uses. A wrong answer may still be right for
*another* dataset: numbers copied from a neighbour or from the website, or
computed on frames loaded from someone else's folder. Such an answer stays
incorrect, and the check says so in plain words (:data:`MESSAGE`).

The other datasets are those in this computer's course cache of the same
kind and size as the student's (the course's default one, which the website
shows, and other students' folders), at most :data:`MAX_OTHERS` of them,
newest first. A correct answer costs nothing. A wrong one is first compared
cheaply with each other dataset: an image on a sparse grid of pixels
(:class:`Resemblance`, whose reference there comes from a few rows of the
frames, in a few hundredths of a second), a number with that dataset's value
(:class:`KeyNumber`). The whole check runs again (computing that dataset's
references once, cached like the student's own) only against a dataset the
answer could be right for: a copy is; a genuine mistake almost never is. So
a wrong answer costs little more than a right one, even on the first call.
"""

from __future__ import annotations

import contextvars
import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..data import store

MESSAGE = ("These numbers do not match your dataset: did you copy them, or load another "
           "student's frames? They are right for {other}, not for yours. Compute them on your "
           "own frames (`dataset_dir()` after the set-up cell, with your own identity).")

#: At most this many other datasets are tried (each costs its references once).
MAX_OTHERS = 2

#: Datasets a check may judge against in one session (the student's own and the others):
#: the size of the checks' in-memory caches keyed by dataset, so that rechecking a wrong
#: answer does not evict the student's own references.
DATASETS_AT_ONCE = 1 + MAX_OTHERS

_FOLDER_NAMES = ("science_root", "ptc_dir", "data_dir")

#: About this many pixels of an image answer are compared with each dataset's reference.
GRID_PIXELS = 40_000


@dataclass(frozen=True)
class Resemblance:
    """How to tell, at little cost, whether an image answer could be another dataset's.

    Attributes
    ----------
    name : str
        The image answer's name (an argument of the check, or a notebook variable).
    reference : callable
        ``reference(root)``: ``(step, grid)``, the reference image the answer
        is judged against on the dataset ``root`` at every ``step``-th row and
        column from the first (:func:`grid_step` of the image's shape), made
        from a few rows of the frames and cached per dataset. It may be
        approximate (the flat's is within a few parts in 10,000), far below
        the spreads it is compared with.
    either_sign : bool
        Whether the check accepts the image negated too.
    """

    name: str
    reference: Callable[[str], tuple[int, np.ndarray]]
    #: The check accepts the image with either sign (a difference taken the other way).
    either_sign: bool = False

    def allows(self, answer, own: str, other: str) -> bool:
        """Whether ``answer`` could be right for ``other`` (see :func:`_resembles`)."""
        return _resembles(self, answer, own, other)


@dataclass(frozen=True)
class KeyNumber:
    """A number the verdict rests on, which tells at little cost that an answer is not
    another dataset's: it must lie within a tolerance of that dataset's value.

    Attributes
    ----------
    name : str
        The number's name (an argument of the check, or a notebook variable).
    reference : callable
        ``reference(root)``: ``(value, tolerance)`` on the dataset ``root``,
        cached per dataset; the tolerance is at least the check's own.
    """

    name: str
    reference: Callable[[str], tuple[float, float]]

    def allows(self, answer, own: str, other: str) -> bool:
        from ._common import number

        value = number(answer)
        expected, tolerance = self.reference(other)
        return value is not None and abs(value - expected) <= tolerance


def grid_step(shape: tuple[int, ...]) -> int:
    """The step of a regular grid of about :data:`GRID_PIXELS` pixels over an image of ``shape``.

    Examples
    --------
    >>> grid_step((1156, 2176))
    7
    """
    return max(1, int((shape[0] * shape[1] / GRID_PIXELS) ** 0.5))


def _spread(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation (NaN if any value is NaN)."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _resembles(resemblance: Resemblance, answer, own: str, other: str) -> bool:
    """Whether an image answer is nearer ``other``'s reference than its own dataset's.

    The spread of the differences on a grid of pixels: a copy of the other
    dataset's image differs from its reference by less than the two
    references differ from each other, and by less than from its own. An
    answer that is not an image within the frame's size cannot be right for
    the other dataset either (a trimmed one is compared on its own part).
    """
    from ._common import as_array

    array = as_array(answer)
    (step, ours), (their_step, theirs) = resemblance.reference(own), resemblance.reference(other)
    if array is None or array.ndim != 2 or step != their_step or ours.shape != theirs.shape:
        return False
    values = array[::step, ::step]
    rows, cols = values.shape
    if rows > ours.shape[0] or cols > ours.shape[1]:
        return False
    values = values.astype(np.float64).ravel()
    ours, theirs = (grid[:rows, :cols].astype(np.float64).ravel() for grid in (ours, theirs))
    between = _spread(ours - theirs)
    for signed in (values, -values) if resemblance.either_sign else (values,):
        to_theirs = _spread(signed - theirs)
        if to_theirs < _spread(signed - ours) and to_theirs < between:
            return True
    return False


# Set while a check runs again against another dataset: that run must not recheck in turn.
_RECHECKING = contextvars.ContextVar("course_utils_rechecking", default=False)


def _synthetic_marker(folder) -> dict | None:
    if folder is None or not isinstance(folder, (str, Path)):
        return None
    try:
        content = store.read_marker(folder)
    except (ValueError, OSError, TypeError):
        return None
    if not content or content.get("source") not in ("synthetic", "synthetic-science") \
            or not content.get("complete", True):
        return None
    return content


def _own_dataset(namespace: Mapping[str, Any], data_dir) -> tuple[Path, dict] | None:
    """The synthetic dataset the check judged against: its folder and marker, or None."""
    for candidate in (data_dir, *(namespace.get(name) for name in _FOLDER_NAMES)):
        content = _synthetic_marker(candidate)
        if content is not None:
            return Path(candidate), content
    from ..data.locate import describe_choice

    try:
        root, _, action = describe_choice()
    except (OSError, ValueError):
        return None
    content = None if action else _synthetic_marker(root)
    return None if content is None else (root, content)


def other_datasets(own: Path, content: dict) -> list[Path]:
    """Complete datasets of the same kind and preset as ``own`` in the cache, other seeds, newest first."""
    from ..data.locate import cache_dir, folder_name, student_folders

    kind, preset = content.get("source"), content.get("preset")
    names = [folder_name(kind, preset)] + [name for name, k, p, _ in student_folders()
                                           if (k, p) == (kind, preset)]
    cache = cache_dir()
    found = []
    for name in dict.fromkeys(names):
        folder = cache / name
        other = _synthetic_marker(folder)
        if other is None or other.get("seed") == content.get("seed") or folder.resolve() == own.resolve():
            continue
        try:
            found.append((folder.stat().st_mtime, folder))
        except OSError:
            continue
    found.sort(reverse=True)
    return [folder for _, folder in found[:MAX_OTHERS]]


def _describe(folder: Path, content: dict) -> str:
    from ..data.locate import folder_name

    if folder.name == folder_name(content.get("source"), content.get("preset")):
        return "the course's default dataset (the one the website shows)"
    return f"another student's dataset ({folder.name} in the course's cache)"


def _others_frames(data_dir, namespace: Mapping[str, Any]) -> str | None:
    """The folder name if the notebook's frames are another student's (a student is set), else None.

    Only the notebook's own folder variables count (``data_dir``, ``ptc_dir``,
    ``science_root``); a ``data_dir`` passed to the check explicitly (a
    teaching assistant's or a test's) is trusted.
    """
    from ..data.students import current_seed, current_student

    if data_dir is not None or current_student() is None:
        return None
    seed = current_seed()
    for name in _FOLDER_NAMES:
        folder = namespace.get(name)
        content = _synthetic_marker(folder)
        if content is not None and content.get("seed") != seed:
            return Path(folder).name
    return None


def _answer(body: Callable, args: tuple, kwargs: dict, namespace: Mapping[str, Any], name: str):
    """The answer ``name`` as the check read it: an argument, else the notebook's variable."""
    from ._common import MISSING

    value = inspect.signature(body).bind_partial(*args, **kwargs).arguments.get(name, MISSING)
    return namespace.get(name) if value is MISSING else value


def recheck(body: Callable, args: tuple, kwargs: dict, data_dir, namespace: Mapping[str, Any],
            feedback, resemblance: Resemblance | KeyNumber | tuple = ()):
    """``feedback``, with :data:`MESSAGE` first if the answer is right for another dataset.

    An incorrect answer is checked again against the other datasets in the
    cache. A correct one computed on frames that are not the current
    student's own (the notebook's folder is another student's) becomes
    incorrect. With a ``resemblance`` (an image's :class:`Resemblance` or a
    :class:`KeyNumber`, or several), the check runs again only against a
    dataset that each of them allows.
    Never raises: anything unexpected leaves ``feedback`` as it is.
    """
    if _RECHECKING.get():
        return feedback
    if feedback.status == "correct":
        try:
            folder = _others_frames(data_dir, namespace)
        except Exception:  # the verdict stands as it was
            folder = None
        if folder is None:
            return feedback
        message = MESSAGE.format(other=f"the frames your notebook loaded ({folder}, not your own folder)")
        return replace(feedback, status="incorrect", messages=(message,))
    if feedback.status != "incorrect":
        return feedback
    token = _RECHECKING.set(True)
    try:
        own = _own_dataset(namespace, data_dir)
        if own is None:
            return feedback
        takes_data_dir = "data_dir" in inspect.signature(body).parameters
        keys = [(key, _answer(body, args, kwargs, namespace, key.name)) for key in
                (resemblance if isinstance(resemblance, tuple) else (resemblance,))]
        for other in other_datasets(*own):
            content = _synthetic_marker(other)
            if content is None or not all(key.allows(answer, str(own[0]), str(other))
                                          for key, answer in keys):
                continue
            if content.get("source") == "synthetic-science" or not takes_data_dir:
                again = body(*args, namespace={**namespace, "science_root": other, "data_dir": other,
                                               "ptc_dir": other}, **kwargs)
            else:
                again = body(*args, data_dir=other, namespace=namespace, **kwargs)
            if again.status == "correct":
                message = MESSAGE.format(other=_describe(other, content))
                return replace(feedback, messages=(message, *feedback.messages))
    except (Exception, SystemExit):  # the verdict stands as it was
        return feedback
    finally:
        _RECHECKING.reset(token)
    return feedback
