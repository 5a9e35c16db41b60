"""What every answer check shares: the verdict, finding answers, reading numbers.

Private to :mod:`course_utils.checks`; each notebook's checks live in a module
of their own next to this one.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np

Status = Literal["correct", "incorrect", "not attempted"]
MISSING: Any = object()
ICONS = {"correct": "✅", "incorrect": "❌", "not attempted": "⏳"}


@dataclass(frozen=True)
class Feedback:
    """The outcome of an answer check; notebooks display it.

    Attributes
    ----------
    exercise : int
        The exercise number.
    title : str
        The exercise's short title.
    status : {'correct', 'incorrect', 'not attempted'}
    messages : tuple of str
        One remark per point checked, most important first.
    """

    exercise: int
    title: str
    status: Status
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def _headline(self) -> str:
        return f"{ICONS[self.status]} Exercise {self.exercise} ({self.title}): {self.status}"

    def __repr__(self) -> str:
        return "\n".join([self._headline(), *(f"  - {m}" for m in self.messages)])

    __str__ = __repr__

    def _repr_markdown_(self) -> str:
        lines = [f"**{self._headline()}**", ""]
        lines += [f"- {m}" for m in self.messages]
        return "\n".join(lines)


# --- Finding the answers and the data ---------------------------------------------


def caller_namespace(depth: int = 2) -> Mapping[str, Any]:
    """The global names of the code that called the check (the notebook)."""
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            frame = frame.f_back
        return frame.f_globals
    finally:
        del frame


def collect(names: list[str], given: dict[str, Any], namespace) -> dict[str, Any]:
    """Answers given as arguments, else looked up by name in the namespace."""
    return {
        name: given[name] if given[name] is not MISSING else namespace.get(name, MISSING)
        for name in names
    }


def unanswered(answers: dict[str, Any]) -> list[str]:
    return [n for n, v in answers.items() if v is MISSING or v is None or v is Ellipsis]


def gather(exercise: int, title: str, given: dict[str, Any], namespace, hint: str):
    """The notebook's namespace and the answers, or a 'not attempted' Feedback.

    Answers not passed as arguments are looked up by name in ``namespace``,
    by default the global names of the notebook that called the check.
    """
    namespace = caller_namespace(depth=3) if namespace is None else namespace
    answers = collect(list(given), given, namespace)
    missing = unanswered(answers)
    if missing:
        return namespace, not_attempted(exercise, title, missing, hint)
    return namespace, answers


def not_attempted(exercise: int, title: str, missing: list[str], hint: str) -> Feedback:
    names = ", ".join(f"`{n}`" for n in missing)
    return Feedback(
        exercise,
        title,
        "not attempted",
        (f"Define {names} in the cell above, then run this check again.", hint),
    )


def data_dir_of(namespace: Mapping[str, Any], data_dir) -> Path:
    """The dataset the notebook uses: ``data_dir`` given, the notebook's, or the default."""
    for candidate in (data_dir, namespace.get("data_dir")):
        if candidate is not None and (Path(candidate) / "calibration_frames").is_dir():
            return Path(candidate)
    from ..data import dataset_dir

    return dataset_dir(verbose=False)


def number(value) -> float | None:
    """``value`` as a float, or None if it is not a single real number."""
    try:
        array = np.asarray(value)
        if array.size != 1 or not np.issubdtype(array.dtype, np.number):
            return None
        number = float(array.reshape(()))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * abs(b)


# --- Shape problems, common to the array answers ---------------------------------


def shape_problem(
    name: str, answer, expected: tuple[int, int], *, raw_shape=None, n_frames=None
) -> str | None:
    """Name what is wrong with the shape of an array answer, or None."""
    array = np.asarray(answer) if not isinstance(answer, np.ndarray) else answer
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return f"`{name}` should be a 2-D numpy array of numbers, not {type(answer).__name__}."
    shape = array.shape
    if shape == expected:
        return None
    if array.ndim == 3 and shape[1:] in (expected, expected[::-1]):
        return (
            f"`{name}` is still a stack of {shape[0]} frames, shape {shape}: combine the "
            "frames along axis 0 (the frame axis), e.g. `np.median(stack, axis=0)`."
        )
    if n_frames is not None and array.ndim == 2 and shape[0] == n_frames:
        return (
            f"`{name}` has shape {shape}: it looks combined along the wrong axis. The "
            f"frames are along axis 0 of the stack, so use `axis=0` to get shape {expected}."
        )
    if shape == expected[::-1]:
        return (
            f"`{name}` has shape {shape}, the transpose of {expected}: IMACS frames are "
            "stored with the long axis first, so transpose them with `.T`."
        )
    if raw_shape is not None and shape in (tuple(raw_shape), tuple(raw_shape)[::-1]):
        return (
            f"`{name}` has shape {shape}: the overscan strip is still there. Trim it: "
            f"keep the first {expected[0]} rows and {expected[1]} columns."
        )
    return f"`{name}` has shape {shape}, but the answer should have shape {expected}."


