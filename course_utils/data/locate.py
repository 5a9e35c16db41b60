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

import os
from pathlib import Path

from . import marker
from .files import display_path, ensure_writable, is_within
from .layout import FRAMES, PRESETS, SYNTHETIC_FRAMES

__all__ = ["dataset_dir", "work_dir", "cache_dir", "SOURCES", "describe_choice",
           "dataset_dir_for", "synthetic_dataset_dir"]

#: The data sources ``dataset_dir`` knows.
SOURCES = ("synthetic", "magellan")

DATA_DIR_ENV = "COURSE_DATA_DIR"
SOURCE_ENV = "COURSE_DATA_SOURCE"
CACHE_ENV = "COURSE_CACHE_DIR"
WORK_ENV = "COURSE_WORK_DIR"


def cache_dir() -> Path:
    """The folder where datasets are generated or downloaded.

    ``COURSE_CACHE_DIR`` if set, else ``pooch.os_cache("course_utils")``.
    The folder is not created here.

    Examples
    --------
    >>> cache_dir().is_absolute()
    True
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    from .fetch import import_pooch

    return Path(import_pooch().os_cache("course_utils")).absolute()


def _resolve_source(source: str | None) -> str | None:
    if source is None:
        source = os.environ.get(SOURCE_ENV) or None
        if source is not None and source.strip().lower() in ("", "auto"):
            return None
        origin = f"the environment variable {SOURCE_ENV}"
    else:
        origin = "source"
    if source is None:
        return None
    cleaned = source.strip().lower()
    if cleaned not in SOURCES:
        raise ValueError(f"{origin} must be one of {SOURCES} (or unset), got {source!r}")
    return cleaned


def _check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return preset


def _synthetic_dir(preset: str) -> Path:
    return cache_dir() / f"synthetic-{preset}"


def _magellan_dir() -> Path:
    return cache_dir() / "magellan"


def _magellan_problem(root: Path, manifest: dict | None = None) -> str | None:
    from .fetch import magellan_info
    from .manifest import load_manifest, real_entries

    if not (root / marker.MARKER_NAME).exists():
        return "not downloaded"
    manifest = load_manifest() if manifest is None else manifest
    entries = real_entries(manifest)
    expected = {e["path"]: {"git_sha1": e.get("git_sha1"), "sha256": e.get("sha256")} for e in entries}
    return marker.quick_check(root, magellan_info(manifest), list(expected), expected)


def _synthetic_problem(root: Path, preset: str) -> str | None:
    from .synthetic import expected_info

    return marker.quick_check(root, expected_info(preset), [f.path for f in SYNTHETIC_FRAMES])


def _line(description: str, root: Path, note: str = "") -> str:
    """The line ``dataset_dir`` prints: what data, and where.

    Notebook outputs are stored and published, so a dataset in the cache is
    named relative to the cache: where the cache is differs from machine to
    machine (``python -m course_utils.data info`` shows it).
    """
    cache = cache_dir()
    if is_within(root, cache) and root.resolve() != cache.resolve():
        where = root.resolve().relative_to(cache.resolve()).as_posix()
        return f"Using {description}: {where} in the course's cache folder{note}"
    return f"Using {description} in {display_path(root)}{note}"


def _fill_commands(root: Path, source: str | None) -> str:
    shown = display_path(root)
    generate = f"    python -m course_utils.data generate --output {shown}   (the synthetic dataset, offline)"
    fetch = f"    python -m course_utils.data fetch --output {shown}      (the real Magellan frames, needs the network)"
    empty = not root.exists() or (root.is_dir() and not any(root.iterdir()))
    if not empty:
        generate = ("    python -m course_utils.data generate --output NEW_EMPTY_FOLDER   "
                    "(the synthetic dataset; then point COURSE_DATA_DIR at it)")
    commands = [fetch, generate] if source == "magellan" or not empty else [generate, fetch]
    return "\n".join(commands)


def _from_env_dir(root: Path, source: str | None) -> str:
    """Check COURSE_DATA_DIR and return the line to print; raise if files are missing."""
    try:
        content = marker.read_marker(root)
    except ValueError:
        content = None
    if content is not None:
        listed = {record.get("path") for record in content.get("files", [])}
        problem = marker.quick_check(root, {}, [f.path for f in FRAMES if f.path in listed])
        missing = [f.path for f in FRAMES if f.path not in listed or not (root / f.path).is_file()]
        if problem and not missing:
            missing = [problem]
    else:
        missing = [f.path for f in FRAMES if not (root / f.path).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise FileNotFoundError(
            f"{DATA_DIR_ENV} is set to {display_path(root)}, but that folder lacks "
            f"{len(missing)} of the {len(FRAMES)} files the notebooks read ({shown}).\n"
            f"Fill it with one of:\n{_fill_commands(root, source)}\n"
            f"or unset {DATA_DIR_ENV} to let the course choose its own dataset folder."
        )
    if content is not None:
        return _line(marker.describe(content), root, f" (set by {DATA_DIR_ENV})")
    return _line("the calibration frames", root,
                 f" (set by {DATA_DIR_ENV}; not verified: it has no {marker.MARKER_NAME})")


def describe_choice(source: str | None = None, preset: str = "full") -> tuple[Path, str, str | None]:
    """What :func:`dataset_dir` would use now, without generating or downloading.

    Returns
    -------
    root : pathlib.Path
        The dataset folder.
    line : str
        The line ``dataset_dir`` prints.
    action : str or None
        None if the dataset is ready, else ``"generate"`` or ``"fetch"``.
    """
    source = _resolve_source(source)
    _check_preset(preset)
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        root = Path(configured).expanduser().absolute()
        return root, _from_env_dir(root, source), None
    if source in (None, "magellan"):
        root = _magellan_dir()
        if _magellan_problem(root) is None:
            return root, _line(marker.describe(marker.read_marker(root)), root), None
    if source == "magellan":
        from .fetch import magellan_info
        from .manifest import load_manifest

        return root, _line(marker.describe(magellan_info(load_manifest())), root), "fetch"
    from .synthetic import expected_info

    root = _synthetic_dir(preset)
    line = _line(marker.describe(expected_info(preset)), root)
    return root, line, None if _synthetic_problem(root, preset) is None else "generate"


def _discard_unmarked(root: Path) -> None:
    """Remove a cache dataset folder that has files but no marker (never complete)."""
    if root.is_dir() and any(root.iterdir()) and not (root / marker.MARKER_NAME).exists():
        import secrets
        import shutil

        aside = root.parent / f".{root.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(root, aside)
        shutil.rmtree(aside, ignore_errors=True)


def dataset_dir(source: str | None = None, preset: str = "full", *, verbose: bool = True) -> Path:
    """Return the folder that contains the course's ``calibration_frames/``.

    Notebooks read e.g. ``dataset_dir() / "calibration_frames" / "bias" /
    "b0860c1.fits"``. The first call generates the synthetic dataset (about
    10 s, with a progress bar) or downloads the real frames; later calls
    find it in the cache at once.

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

    Returns
    -------
    pathlib.Path
        An absolute path.

    Raises
    ------
    FileNotFoundError
        If ``COURSE_DATA_DIR`` names a folder without the dataset's files.
    course_utils.data.fetch.FetchError
        If the real frames are asked for but cannot be downloaded.
    course_utils.data.files.NotWritableError
        If the cache cannot be written (set ``COURSE_CACHE_DIR``).
    ValueError
        For an unknown ``source`` or ``preset``.

    Examples
    --------
    >>> from course_utils.data import dataset_dir
    >>> data_dir = dataset_dir()   # doctest: +SKIP
    Using the synthetic course dataset (preset 'full', seed 20230321, generator 1): synthetic-full in the course's cache folder
    >>> bias_file = data_dir / "calibration_frames" / "bias" / "b0860c1.fits"   # doctest: +SKIP
    """
    root, line, action = describe_choice(source, preset)
    if action == "fetch":
        from .fetch import fetch_frames

        fetch_frames(root, progress=verbose)
    elif action == "generate":
        from .synthetic import generate

        _discard_unmarked(root)
        generate(root, preset, progress=verbose, overwrite=True)
    if verbose:
        print(line)
    return root


# --- Frames only the synthetic dataset has (the photon transfer sequence) ------------


def synthetic_dataset_dir(preset: str = "full", *, verbose: bool = True) -> Path:
    """The synthetic dataset in the cache, generated if needed, whatever else was chosen.

    Unlike :func:`dataset_dir`, this ignores ``COURSE_DATA_DIR`` and
    ``COURSE_DATA_SOURCE``: it is for frames that only the synthetic dataset
    has (see :func:`dataset_dir_for`).
    """
    from .synthetic import expected_info, generate

    _check_preset(preset)
    root = _synthetic_dir(preset)
    if _synthetic_problem(root, preset) is not None:
        _discard_unmarked(root)
        generate(root, preset, progress=verbose, overwrite=True)
    if verbose:
        print(_line(marker.describe(expected_info(preset)), root))
    return root


def dataset_dir_for(paths, what: str, preset: str = "full", *, verbose: bool = True) -> Path:
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
    paths = list(paths)
    root, line, action = describe_choice(None, preset)
    if action is None and all((root / path).is_file() for path in paths):
        if verbose:
            print(line)
        return root
    if action == "generate":  # the synthetic dataset was chosen: make it as usual
        return dataset_dir(preset=preset, verbose=verbose)
    if verbose:
        chosen = ("the real Magellan frames, which were chosen, have none" if action == "fetch"
                  else f"the chosen data in {display_path(root)} has none")
        print(f"{what} exist only in the synthetic dataset; {chosen}, so they come from "
              "the synthetic dataset.")
    return synthetic_dataset_dir(preset, verbose=verbose)


def _raw_data_folder_of(folder: Path) -> Path | None:
    """The raw data folder that ``folder`` is in (or is), if any."""
    cache = cache_dir()
    if is_within(folder, cache) and folder.resolve() != cache.resolve():
        first = folder.resolve().relative_to(cache.resolve()).parts[0]
        if first == "magellan" or first.startswith(("synthetic-", ".")):
            return cache / first
    configured = os.environ.get(DATA_DIR_ENV)
    if configured and is_within(folder, Path(configured).expanduser()):
        return Path(configured).expanduser()
    for candidate in (folder, *folder.parents):
        if (candidate / marker.MARKER_NAME).is_file():
            return candidate
    return None


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
    if path is None:
        path = os.environ.get(WORK_ENV) or Path.cwd() / "course_work"
    folder = Path(path).expanduser().absolute()
    raw = _raw_data_folder_of(folder)
    if raw is not None:
        raise ValueError(
            f"The work folder {display_path(folder)} is inside the raw data folder "
            f"{display_path(raw)}; notebooks never write into the raw data. "
            f"Choose another folder (e.g. set {WORK_ENV})."
        )
    return ensure_writable(folder, "derived products (master frames)",
                           f"Set {WORK_ENV} to a folder you can write to.")
