"""Where the course's data is: :func:`dataset_dir` (raw frames) and :func:`work_dir` (products).

:func:`dataset_dir` returns the folder that contains ``calibration_frames/``,
choosing in this order:

1. the folder named by the environment variable ``COURSE_DATA_DIR``, if set
   (it must hold the files; a clear error says which are missing and how to
   fill it);
2. a complete, verified dataset already in the cache -- with ``source=None``
   the real Magellan frames if they were downloaded, else the synthetic
   dataset of the requested preset;
3. a download of the real frames, when ``source="magellan"``;
4. otherwise, a freshly generated synthetic dataset.

The cache is ``pooch.os_cache("course_utils")`` (e.g.
``~/.cache/course_utils`` on Linux), or ``COURSE_CACHE_DIR``; it holds one
folder per dataset: ``synthetic-full``, ``synthetic-small``, ``magellan``.

:func:`work_dir` returns a writable folder for derived products (master
frames), never inside the raw data.

Environment variables
---------------------
``COURSE_DATA_DIR``
    Use this dataset folder, whatever else exists.
``COURSE_DATA_SOURCE``
    ``synthetic`` or ``magellan``: the default of ``dataset_dir(source=...)``.
``COURSE_CACHE_DIR``
    Where datasets are generated or downloaded.
``COURSE_DATA_MANIFEST``
    Another manifest file listing the real frames (see ``data_manifest/README.md``).
``COURSE_WORK_DIR``
    The work folder for derived products (default ``./course_work``).

Examples
--------
>>> import os, tempfile
>>> from course_utils.data import work_dir
>>> with tempfile.TemporaryDirectory() as tmp:
...     out = work_dir(os.path.join(tmp, "course_work"))
...     print(out.name, out.is_dir())
course_work True
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from . import identity, store, students
from .fetch import fetch_frames, magellan_plan
from .store import CACHE_ENV, WORK_ENV, cache_dir, work_folder, display_path, ensure_writable, using_line
from .layout import DATA_FOLDER, FRAMES, PRESETS, SYNTHETIC_FRAMES, as_preset
from .manifest import load_manifest
from .science import science_status
from .students import folder_name
from .synthetic import dataset_plan as synthetic_plan

__all__ = ["dataset_dir", "work_dir", "cache_dir", "cache_status", "SOURCES", "describe_choice",
           "dataset_dir_for", "folder_name", "student_folders"]

#: The data sources ``dataset_dir`` knows.
SOURCES = ("synthetic", "magellan")

DATA_DIR_ENV = "COURSE_DATA_DIR"
SOURCE_ENV = "COURSE_DATA_SOURCE"
#: The note for a student who set an identity but uses the real frames, which nobody's seed changes.
_SAME_FOR_ALL = " (the real frames are the same for every student: no dataset of your own)"


def _resolve_source(source: str | None) -> str | None:
    """``source`` (else ``COURSE_DATA_SOURCE``, where empty or ``auto`` mean None) checked and cleaned."""
    value = os.environ.get(SOURCE_ENV, "") if source is None else source
    cleaned = value.strip().lower() if isinstance(value, str) else None
    if source is None and cleaned in ("", "auto"):
        return None
    if cleaned not in SOURCES:
        origin = "source" if source is not None else f"the environment variable {SOURCE_ENV}"
        raise ValueError(f"{origin} must be one of {SOURCES} (or unset), got {value!r}")
    return cleaned


def _resolve_seed(seed: int | None) -> int:
    """``seed`` checked, or the current student's (the course's default seed without one)."""
    return students.current_seed() if seed is None else identity.check_seed(seed)


def _magellan_status(root: Path) -> tuple[store.Status, list[str]]:
    """The state of the download in ``root`` and its files (the manifest is read only if needed)."""
    if not os.path.lexists(root / store.MARKER_NAME):
        return store.Status(problem=f"no {store.MARKER_NAME} (nothing was downloaded)"), []
    plan = magellan_plan(root, load_manifest())
    return store.check(root, plan.info, plan.sizes, plan.hashes), list(plan.sizes)


def _synthetic_status(root: Path, preset: str, seed: int = identity.DEFAULT_SEED) -> store.Status:
    return store.check(root, identity.synthetic(preset, seed), [f.path for f in SYNTHETIC_FRAMES])


def cache_status() -> list[tuple[str, str]]:
    """``(folder name, state)`` of each dataset the cache may hold (for ``info``).

    The state is ``"complete"``, ``"not present"`` or the first problem found.
    """
    cache, kinds = cache_dir(), {"synthetic": _synthetic_status, "synthetic-science": science_status}
    folders = [(f"{kind}-{p}", kind, p, identity.DEFAULT_SEED) for kind in kinds for p in PRESETS] + student_folders()
    rows = [("magellan", _magellan_status(cache / "magellan")[0])]
    rows += [(name, kinds[kind](cache / name, preset, seed)) for name, kind, preset, seed in folders]
    return [(name, "complete" if status.ok else status.first() if (cache / name).exists() else "not present")
            for name, status in rows]


def student_folders() -> list[tuple[str, str, str, int]]:
    """Students' folders in the cache: ``(name, kind, preset, seed)``, sorted by name.

    A folder counts when its name is ``synthetic-PRESET-TAG`` or
    ``synthetic-science-PRESET-TAG`` with a hexadecimal TAG (the seed, at
    least 12 digits) and it is not a link; what is inside is checked by
    :func:`cache_status`, never trusted.
    """
    pattern = re.compile(rf"^(synthetic-science|synthetic)-({'|'.join(PRESETS)})-([0-9a-f]{{12,}})$")
    with contextlib.suppress(OSError):  # no cache yet, or one that cannot be listed
        found = [(entry, pattern.match(entry.name)) for entry in cache_dir().iterdir()]
        return sorted((entry.name, *match.groups()[:2], int(match[3], 16)) for entry, match in found
                      if match and not entry.is_symlink())
    return []


def _from_env_dir(root: Path) -> str:
    """Check the folder named by COURSE_DATA_DIR and return the line to print; raise naming the problem
    and the commands that fix it."""
    shown = display_path(root)
    said = f"{DATA_DIR_ENV} is set to {shown}"
    unset = f"point {DATA_DIR_ENV} at the folder that contains {DATA_FOLDER}/, or unset it"
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{said}, which is a file, not a folder. Make a dataset folder with "
                                 f"`python -m course_utils.data generate --output DIR` and {unset}.")
    content = store.read_marker(root)  # (a broken marker: ValueError, naming the command that remakes it)
    if content is None:
        missing = [f.path for f in FRAMES if not (root / f.path).is_file()]
        if not missing:
            return using_line("the calibration frames", root, f" (set by {DATA_DIR_ENV}; not verified: no marker)")
        out = shown if not root.exists() or not any(root.iterdir()) else "NEW_EMPTY_FOLDER"
        raise FileNotFoundError(
            f"{said}, which lacks {len(missing)} of the {len(FRAMES)} files the notebooks read ({store.some(missing)})."
            f" Fill {out} with `python -m course_utils.data generate --output {out}` (synthetic, offline) or "
            f"`python -m course_utils.data fetch --output {out}` (the real frames, online) and {unset}.")
    status = store.check(root, {}, [f.path for f in FRAMES])
    if status.ok:
        return using_line(identity.describe(content), root, f" (set by {DATA_DIR_ENV})")
    command = "fetch" if content.get("source") == "magellan" else "generate --force"
    raise FileNotFoundError(f"{said}, {identity.describe(content)}, but it is damaged: {status.first()}. Repair "
                            f"it with `python -m course_utils.data {command} --output {shown}`, or {unset}.")


def describe_choice(source: str | None = None, preset: str = "full",
                    seed: int | None = None) -> tuple[Path, str, str | None]:
    """What :func:`dataset_dir` would use now, without generating or downloading.

    ``seed``: of the synthetic dataset; None: the current student's
    (:func:`course_utils.data.students.current_seed`).

    Returns
    -------
    root : pathlib.Path
        The dataset folder.
    line : str
        The line ``dataset_dir`` prints.
    action : str or None
        None if the dataset is ready, else ``"generate"`` or ``"fetch"``.
    """
    return _choose(_resolve_source(source), as_preset(preset).name, _resolve_seed(seed))[:3]


def _choose(source: str | None, preset: str, seed: int, env: bool = True):
    """(root, line, action, the plan's paths, status) for checked arguments (see describe_choice);
    ``env=False`` ignores ``COURSE_DATA_DIR``."""
    if env and (configured := os.environ.get(DATA_DIR_ENV)):
        root = Path(configured).expanduser().absolute()
        return root, _from_env_dir(root), None, [], None
    same = "" if seed == identity.DEFAULT_SEED else _SAME_FOR_ALL
    if source in (None, "magellan"):
        root = cache_dir() / "magellan"
        status, paths = _magellan_status(root)
        if status.ok:
            return root, using_line(identity.describe(status.content), root, same), None, paths, status
    if source == "magellan":
        return root, using_line(identity.describe(identity.magellan(load_manifest())), root, same), "fetch", [], None
    root = cache_dir() / folder_name("synthetic", preset, seed)  # synthetic-PRESET, or -TAG for a student's seed
    status = _synthetic_status(root, preset, seed)
    line = using_line(identity.describe(identity.synthetic(preset, seed)), root)
    return root, line, None if status.ok else "generate", [f.path for f in SYNTHETIC_FRAMES], status


def dataset_dir(source: str | None = None, preset: str = "full", *, verbose: bool = True,
                seed: int | None = None) -> Path:
    """Return the folder that contains the course's ``calibration_frames/``.

    Notebooks read e.g. ``dataset_dir() / "calibration_frames" / "bias" /
    "b0860c1.fits"``. The first call generates the synthetic dataset (about
    10 s, with a progress bar) or downloads the real frames; later calls
    find it in the cache at once. The frames and the dataset's folders are
    read-only: write products into :func:`work_dir`.

    Every call checks the dataset cheaply (each file's size and modification
    time; a file whose time changed is re-hashed). A damaged file of a cached
    dataset is made again (a line on stderr names it); concurrent calls --
    several notebooks, or several containers sharing a home folder -- wait
    for each other (a file lock) and all use the one dataset made.

    Parameters
    ----------
    source : {None, 'synthetic', 'magellan'}
        ``None``: ``COURSE_DATA_SOURCE`` if set, else the real frames if they
        were already downloaded, else the synthetic dataset. ``'synthetic'``:
        the synthetic dataset. ``'magellan'``: the real frames, downloaded
        (and verified) if they are not in the cache yet.
    preset : {'full', 'small'}
        Size of the synthetic dataset: ``'full'`` (the real sizes; for the
        notebooks) or ``'small'`` (every dimension / 4; for tests).
    verbose : bool
        Print one line saying which data is used and where (the home folder
        shown as ``~``). The line is the same on every run.
    seed : int, optional
        The seed of the synthetic dataset. Default: the current student's
        (``COURSE_STUDENT`` or :func:`course_utils.use_student`; each student
        gets a folder of their own in the cache), else the course's default
        seed. The real frames are the same for every student.

    Returns
    -------
    pathlib.Path
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If ``COURSE_DATA_DIR`` names a folder without the dataset's files, or
        a damaged dataset (the message names the file and the command that
        repairs it).
    NotADirectoryError
        If ``COURSE_DATA_DIR`` names a file.
    FileExistsError
        If the cache's dataset folder holds files that course_utils did not
        make (they are left alone; the message says what to do).
    course_utils.data.fetch.FetchError
        If the real frames are asked for but cannot be downloaded.
    course_utils.data.store.NotWritableError
        If the cache cannot be written (set ``COURSE_CACHE_DIR``).
    course_utils.data.store.DiskFullError
        If the disk lacks room (the message says how many MB, where, and to
        set ``COURSE_CACHE_DIR``).
    ValueError
        For an unknown ``source`` or ``preset``, or a marker that cannot be read
        (the message names the command that makes the dataset again).

    Examples
    --------
    >>> from course_utils.data import dataset_dir
    >>> data_dir = dataset_dir()   # doctest: +SKIP
    Using the synthetic course dataset (preset 'full', seed 20230321, generator 1): synthetic-full in the course's cache folder
    >>> bias_file = data_dir / "calibration_frames" / "bias" / "b0860c1.fits"   # doctest: +SKIP
    """
    return _prepare(_resolve_source(source), as_preset(preset).name, _resolve_seed(seed), verbose)


def _prepare(source: str | None, preset: str, seed: int, verbose: bool, env: bool = True) -> Path:
    """:func:`dataset_dir` for checked arguments (``env=False``: whatever ``COURSE_DATA_DIR`` says)."""
    root, line, action, paths, status = _choose(source, preset, seed, env)
    if action == "fetch":
        fetch_frames(root, progress=verbose)
    elif action == "generate":
        store.ensure(root, synthetic_plan(as_preset(preset), seed), progress=verbose)
    elif status is not None:
        store.maintain(root, paths, status)
    if verbose:
        print(line)
    return root


# --- Frames only the synthetic dataset has (the photon transfer sequence) ------------


def dataset_dir_for(paths, what: str, preset: str = "full", *, verbose: bool = True,
                    seed: int | None = None) -> Path:
    """The dataset folder to read ``paths`` from: the chosen one if it has them, else the synthetic one.

    Some frames exist only in the synthetic dataset (the photon transfer
    sequence of notebook 6: the real Magellan set has none). When the chosen
    data (``COURSE_DATA_DIR``, or the real frames chosen with
    ``COURSE_DATA_SOURCE=magellan`` or downloaded earlier) lacks them, this
    says so in one line and returns the synthetic dataset (generated if
    needed), without downloading anything.

    Parameters
    ----------
    paths : iterable of str
        Paths relative to the dataset folder that must exist.
    what : str
        What the files are, for the message (e.g. ``"Photon-transfer frames"``).
    preset, verbose
        As for :func:`dataset_dir`.

    Examples
    --------
    >>> from course_utils.data.layout import PTC_FRAMES
    >>> root = dataset_dir_for([f.path for f in PTC_FRAMES], "Photon-transfer frames")  # doctest: +SKIP
    Using the synthetic course dataset (preset 'full', seed 20230321, generator 1) in ~/.cache/course_utils/synthetic-full
    """
    paths, preset, seed = list(paths), as_preset(preset).name, _resolve_seed(seed)
    root, line, action = describe_choice(None, preset, seed)
    if action == "generate" or (action is None and all((root / path).is_file() for path in paths)):
        return _prepare(None, preset, seed, verbose)  # made, or tidied, as usual
    if verbose:
        chosen = ("the real Magellan frames, which were chosen, have none" if action == "fetch"
                  else f"the chosen data in {display_path(root)} has none")
        print(f"{what} exist only in the synthetic dataset; {chosen}, so they come from the synthetic dataset.")
    return _prepare("synthetic", preset, seed, verbose, env=False)


def _raw_data_folder_of(folder: Path) -> Path | None:
    """The raw data folder that ``folder`` is in (or is), if any: ``COURSE_DATA_DIR``, or a folder with a marker
    (symbolic links resolved). Every dataset folder the course makes has its marker from its first write on."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured and folder.resolve().is_relative_to(Path(configured).expanduser().resolve()):
        return Path(configured).expanduser()
    resolved = folder.resolve()
    return next((raw for raw in (resolved, *resolved.parents) if (raw / store.MARKER_NAME).is_file()), None)


def work_dir(path: str | os.PathLike | None = None) -> Path:
    """Return a writable folder for derived products (master frames), creating it.

    Parameters
    ----------
    path : path-like, optional
        The folder. Default: ``COURSE_WORK_DIR`` if set, else
        ``course_work`` in the current folder.

    Returns
    -------
    pathlib.Path
        An absolute path.

    Raises
    ------
    ValueError
        If the folder is inside a raw data folder (the dataset cache,
        ``COURSE_DATA_DIR``, or any dataset folder with a
        ``course_dataset.json``): raw data is never written to.
    PermissionError
        If the folder cannot be created or written (the message says to set
        ``COURSE_WORK_DIR``).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = work_dir(tmp)
    ...     (out / "master_bias.fits").parent == out
    True
    """
    folder = work_folder() if path is None else Path(path).expanduser().absolute()
    if (raw := _raw_data_folder_of(folder)) is not None:
        raise ValueError(f"The work folder {display_path(folder)} is inside the raw data folder {display_path(raw)}; "
                         f"notebooks never write into the raw data. Choose another folder (e.g. set {WORK_ENV}).")
    return ensure_writable(folder, "derived products (master frames)",
                           f"Set {WORK_ENV} to a folder you can write to.")
