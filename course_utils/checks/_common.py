"""What every answer check shares: the verdict, finding answers, reading numbers.

Private to :mod:`course_utils.checks`; each notebook's checks live in a module
of their own next to this one.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np

from . import _copied

Status = Literal["correct", "incorrect", "not attempted", "not checked"]
MISSING: Any = object()
ICONS = {"correct": "✅", "incorrect": "❌", "not attempted": "⏳", "not checked": "⚠️"}


@dataclass(frozen=True)
class Feedback:
    """The outcome of an answer check; notebooks display it.

    Attributes
    ----------
    exercise : int
        The exercise number.
    title : str
        The exercise's short title.
    status : {'correct', 'incorrect', 'not attempted', 'not checked'}
        'not checked' means the check could not run (no dataset, say); the
        messages say why.
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


#: Answers with more values than this are not converted to numbers: no answer
#: of the course is larger than a few million pixels, and converting a huge
#: array (a 1 GiB uint8 answer becomes 8 GB of float64) could exhaust memory.
MAX_VALUES = 50_000_000


def unreadable(name: str, value) -> str | None:
    """Why an answer cannot be read safely, or None.

    The checks read an answer's ``unit``, ``data``, ``value``, ``shape`` and
    ``mask`` and turn it into a numpy array; an object whose attribute
    access or conversion raises (a hostile ``__getattr__`` or ``__array__``)
    is named here, before any check touches it. Functions (Exercise 3) are
    not read: they are called, in a child process.
    """
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return None
    if isinstance(value, np.ndarray) and type(value) in (np.ndarray, np.ma.MaskedArray):
        return None
    try:
        if callable(value) and not hasattr(value, "__array__"):
            return None
        for attribute in ("unit", "data", "value", "shape", "dtype", "mask"):
            getattr(value, attribute, None)
        if not hasattr(value, "shape") or np.size(value) <= MAX_VALUES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    np.asarray(value)
                except (TypeError, ValueError):
                    pass  # ragged lists and the like: each check names them
    except (Exception, SystemExit) as error:  # the answer's own code failed, not the check
        return (f"`{name}` could not be read: asking it for its values raised "
                f"{type(error).__name__}: {_text(error)}. Make it a plain number or numpy array.")
    return None


def _text(error: BaseException, limit: int = 120) -> str:
    try:
        text = str(error)
    except Exception:
        text = ""
    return text if len(text) <= limit else text[:limit] + "…"


def gather(exercise: int, title: str, given: dict[str, Any], namespace, hint: str):
    """The notebook's namespace and the answers, or a Feedback that ends the check.

    Answers not passed as arguments are looked up by name in ``namespace``,
    by default the global names of the notebook that called the check. A
    missing answer gives 'not attempted'; an answer that cannot be read
    (see :func:`unreadable`) gives 'incorrect', naming it.
    """
    namespace = caller_namespace(depth=3) if namespace is None else namespace
    answers = collect(list(given), given, namespace)
    missing = unanswered(answers)
    if missing:
        return namespace, not_attempted(exercise, title, missing, hint)
    problems = [p for p in (unreadable(n, v) for n, v in answers.items()) if p]
    if problems:
        return namespace, Feedback(exercise, title, "incorrect", tuple(problems))
    return namespace, answers


def not_attempted(exercise: int, title: str, missing: list[str], hint: str) -> Feedback:
    names = ", ".join(f"`{n}`" for n in missing)
    return Feedback(
        exercise,
        title,
        "not attempted",
        (f"Define {names} in the cell above, then run this check again.", hint),
    )


def _dataset_folder(candidate) -> Path | None:
    """``candidate`` as a dataset folder (it holds calibration_frames/), or None."""
    if candidate is None or not isinstance(candidate, (str, Path)):
        return None
    try:
        path = Path(candidate)
        return path if (path / "calibration_frames").is_dir() else None
    except Exception:  # a str or Path subclass whose methods raise: not a folder
        return None


def data_dir_of(namespace: Mapping[str, Any], data_dir) -> Path:
    """The dataset the notebook uses: ``data_dir`` given, the notebook's, or the default.

    Anything that is not a dataset folder (an overwritten ``data_dir = 5``,
    say) is passed over, never an error: :func:`data_dir_note` tells the
    student.
    """
    for candidate in (data_dir, namespace.get("data_dir")):
        folder = _dataset_folder(candidate)
        if folder is not None:
            return folder
    from ..data import dataset_dir

    return dataset_dir(verbose=False)


def data_dir_note(namespace: Mapping[str, Any], data_dir) -> str | None:
    """A note when the notebook's ``data_dir`` is set but is not a dataset folder."""
    if data_dir is not None or "data_dir" not in namespace:
        return None
    value = namespace.get("data_dir")
    if _dataset_folder(value) is not None:
        return None
    return (
        f"Note: `data_dir` in your notebook is now {short_repr(value)}, not the dataset "
        "folder, so this check used the course's dataset (`dataset_dir()`). If you "
        "reassigned `data_dir` by accident, run the set-up cell again."
    )


def short_repr(value, limit: int = 40) -> str:
    """A short description of any value: its repr if short, else its type."""
    try:
        if isinstance(value, np.ndarray) or hasattr(value, "shape"):
            return f"an array of shape {tuple(np.shape(value))}"
        text = repr(value)
    except Exception:  # a broken __repr__ or __getattr__ must not break the check
        text = ""
    if text and len(text) <= limit:
        return f"`{text}` ({type(value).__name__})"
    return f"a {type(value).__name__}"


def number(value) -> float | None:
    """``value`` as a float, or None if it is not a single finite real number."""
    try:
        value = getattr(value, "value", value) if hasattr(value, "unit") else value
        if np.size(value) != 1:
            return None
        array = np.asarray(value)
        if array.size != 1 or not np.issubdtype(array.dtype, np.number):
            return None
        if np.issubdtype(array.dtype, np.complexfloating):
            return None
        number = float(array.reshape(()))
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def number_problem(name: str, value, what: str) -> str:
    """Why ``value`` is not a single finite number, as a message naming ``name``.

    ``what`` describes the number expected, e.g. "a standard deviation, in DU".
    """
    head = f"`{name}` should be a single number ({what})"
    if isinstance(value, str):
        return f"{head}, not the text {value[:30]!r}: write the number without quotes."
    if isinstance(value, (bool, np.bool_)):
        return f"{head}, not {value}."
    if isinstance(value, dict):
        return f"{head}, not a dict."
    try:
        size, shape = np.size(value), np.shape(value)
        if size > 1:
            return (f"{head}, but it holds {size} values (shape {shape}): reduce them to "
                    "one, e.g. with `np.median(...)` without `axis=`.")
        array = np.asarray(np.ma.filled(value, np.nan) if np.ma.isMaskedArray(value) else value,
                           dtype=float)
    except (TypeError, ValueError):
        return f"{head}, not {short_repr(value)}."
    if array.size == 1:
        scalar = float(array.reshape(()))
        if math.isnan(scalar):
            return (
                f"`{name}` is NaN (not a number), so it cannot be checked: a NaN spreads "
                "from any NaN in the data (use `np.nanmedian`, `np.nanstd`, ...) or from a "
                "masked value or 0/0 along the way. Find which step made it."
            )
        return f"`{name}` is infinite: look for a division by zero."
    if array.size == 0:
        return f"{head}, but it is empty."
    return (
        f"{head}, but it holds {array.size} values (shape {array.shape}): reduce them to "
        "one, e.g. with `np.median(...)` without `axis=`."
    )


def close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * abs(b)


# --- Array answers -----------------------------------------------------------------


def as_array(answer) -> np.ndarray | None:
    """An array answer as a numeric numpy array, or None if it is not one.

    ``CCDData`` and ``Quantity`` give their data; a masked array gives its
    data with NaN where it is masked (a masked pixel has no value to
    subtract); lists of equal rows become arrays; ragged lists, strings,
    dicts and other objects give None.
    """
    if isinstance(answer, (str, bytes, dict)) or answer is None:
        return None
    try:
        if np.ma.isMaskedArray(answer):
            data = np.ma.getdata(answer)
            if data.dtype.kind in "biuf" and np.ma.getmaskarray(answer).any():
                return np.where(np.ma.getmaskarray(answer), np.nan, data.astype(np.float64))
            return np.asarray(data) if data.dtype.kind in "biuf" else None
        if not isinstance(answer, np.ndarray):
            if hasattr(answer, "unit") and hasattr(answer, "data") and not hasattr(answer, "value"):
                answer = answer.data  # CCDData (or NDData)
            elif hasattr(answer, "unit") and hasattr(answer, "value"):
                answer = answer.value  # Quantity
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(answer)
    except (TypeError, ValueError, AttributeError):
        return None
    if array.dtype.kind not in "biuf":
        return None
    return array


def shape_problem(
    name: str, answer, expected: tuple[int, int], *, raw_shape=None, n_frames=None
) -> str | None:
    """Name what is wrong with the shape of an array answer, or None."""
    array = as_array(answer)
    if array is None:
        if isinstance(answer, (list, tuple)):
            return (
                f"`{name}` is a {type(answer).__name__} that numpy cannot turn into one "
                "array of numbers (its items differ in length or type): it should be a "
                "2-D numpy array."
            )
        return f"`{name}` should be a 2-D numpy array of numbers, not {short_repr(answer)}."
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
            f"`{name}` has shape {shape}, the transpose of {expected}: rows and columns "
            "are swapped. Find the step that transposed it (an extra `.T`, or one "
            "missing) and make the answer's shape match."
        )
    if raw_shape is not None and shape in (tuple(raw_shape), tuple(raw_shape)[::-1]):
        return (
            f"`{name}` has shape {shape}: the overscan strip is still there. Trim it: "
            f"keep the first {expected[0]} rows and {expected[1]} columns."
        )
    return f"`{name}` has shape {shape}, but the answer should have shape {expected}."




# --- Running a check: silent, and never a traceback ----------------------------------


@contextlib.contextmanager
def quiet():
    """Nothing printed, no warnings: a check shows only its verdict.

    Progress bars (tqdm writes to ``sys.stderr``), numpy's floating-point
    warnings and ``RuntimeWarning: All-NaN slice`` from a student's NaN-filled
    array are all kept out of the notebook.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        stack.enter_context(np.errstate(all="ignore"))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        yield


def answer_check(exercise: int, title: str,
                 resemblance: _copied.Resemblance | _copied.KeyNumber | tuple = ()) -> Callable:
    """Make a check function safe to call from a notebook: the one guard of all ten.

    The decorated function receives the notebook's ``namespace`` (the
    caller's global names unless one is given) and ``data_dir``. Whatever it
    is given (a hostile answer, a ``namespace`` that is not a mapping or
    whose look-ups raise, a ``data_dir`` whose attributes raise), the check
    prints nothing but returns a :class:`Feedback`: an unexpected error
    becomes a 'not checked' verdict that names it, and a ``data_dir`` that
    is no longer the dataset folder adds a note. A wrong answer is checked
    again against other students' datasets (:func:`_copied.recheck`); the
    ``resemblance`` of an image answer, or key numbers, make that cheap.
    """

    def decorate(body: Callable[..., Feedback]) -> Callable[..., Feedback]:
        @functools.wraps(body)
        def check(*args, data_dir=None, namespace=None, **kwargs) -> Feedback:
            namespace = caller_namespace(depth=2) if namespace is None else namespace
            if not isinstance(namespace, Mapping):
                namespace = {}  # answers given as arguments are still checked
            with quiet():
                try:
                    feedback = body(*args, data_dir=data_dir, namespace=namespace, **kwargs)
                    # Right for another student's dataset (copied, or their frames loaded)?
                    feedback = _copied.recheck(body, args, kwargs, data_dir, namespace, feedback,
                                               resemblance)
                except (Exception, SystemExit) as error:  # a verdict, never a traceback
                    return _could_not_run(exercise, title, error)
                try:
                    note = data_dir_note(namespace, data_dir)
                except (Exception, SystemExit) as error:
                    note = (f"Note: `data_dir` in your notebook could not be read "
                            f"({type(error).__name__}), so this check used the course's "
                            "dataset. Run the set-up cell again.")
            if note and feedback.status != "not attempted":
                feedback = replace(feedback, messages=(*feedback.messages, note))
            return feedback

        return check

    return decorate


def _could_not_run(exercise: int, title: str, error: BaseException) -> Feedback:
    return Feedback(
        exercise, title, "not checked",
        (f"The check could not run: {type(error).__name__}: {_text(error, 300)}",
         "If the dataset is missing, run the set-up cells at the top of "
         "the notebook again; otherwise please report this message."),
    )
