"""Reading FITS frames into one stack: :func:`read_stack`.

The course's raw frames are 16-bit unsigned integers, stored (as FITS
requires) as signed 16-bit integers with ``BZERO = 32768``; they are read
here straight into a ``uint16`` array by flipping the sign bit
(:func:`unsigned_from_offset16`), without astropy's float64 scaling. Every
error names the file it comes from and its place in the list. For FITS
sections (``BIASSEC``, ``DATASEC``) see :func:`course_utils.fits_section`,
re-exported here.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from astropy.io import fits
>>> from course_utils import read_stack
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> fits.PrimaryHDU(np.zeros((2, 2), dtype=np.uint16)).writeto(folder / "a.fits")
>>> read_stack([folder / "a.fits"]).shape
(1, 2, 2)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence, Union

import numpy as np

from ..progress import progress_bar
from ..sections import fits_section

__all__ = ["read_stack", "open_frames", "FileFrames", "fits_section", "unsigned_from_offset16", "offset16_from_unsigned", "as_paths",
           "PathLike"]

PathLike = Union[str, os.PathLike]

#: Show a progress bar when reading at least this many files (progress=None).
PROGRESS_MIN_FILES = 10


def unsigned_from_offset16(raw: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Turn stored 16-bit FITS integers with ``BZERO = 32768`` into ``uint16``, into ``out``.

    ``v`` is stored as the int16 ``v - 32768``, whose bit pattern is ``v``
    with its top bit flipped, so one XOR restores it, in any byte order.

    Examples
    --------
    >>> raw = np.array([-32768, 0, 32767], dtype=">i2")
    >>> unsigned_from_offset16(raw, np.empty(3, dtype=np.uint16))
    array([    0, 32768, 65535], dtype=uint16)
    """
    unsigned = np.dtype(np.uint16).newbyteorder(raw.dtype.byteorder)
    return np.bitwise_xor(raw.view(unsigned), np.uint16(0x8000), out=out)


def offset16_from_unsigned(data: np.ndarray) -> np.ndarray:
    """``uint16`` values as a FITS file with ``BZERO = 32768`` stores them.

    The inverse of :func:`unsigned_from_offset16` (the same bit flip), in the
    big-endian order of FITS files, for writers of such files.

    Examples
    --------
    >>> offset16_from_unsigned(np.array([0, 32768, 65535], dtype=np.uint16)).view(">i2")
    array([-32768,      0,  32767], dtype='>i2')
    """
    stored = np.asarray(data, dtype=">u2")
    return unsigned_from_offset16(stored, np.empty(stored.shape, dtype=">u2"))


def _image_hdu(hdul, hdu, path):
    from astropy.io import fits

    image_types = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
    if hdu is None:  # the first HDU with an image (extension 1 of a compressed file)
        for h in hdul:
            if isinstance(h, image_types) and h.header.get("NAXIS", 0) > 0:
                return h
        raise ValueError(
            f"{path}: no image data in any of its {len(hdul)} HDU(s): "
            f"{[f'{x.name} ({type(x).__name__})' for x in hdul]}")
    try:
        h = hdul[hdu]
    except (IndexError, KeyError):
        raise ValueError(
            f"{path}: has no HDU {hdu!r}; it has {len(hdul)} HDU(s): "
            f"{[x.name for x in hdul]}"
        ) from None
    if not isinstance(h, image_types) or h.header.get("NAXIS", 0) == 0:
        raise ValueError(
            f"{path}: HDU {hdu!r} ({type(h).__name__}) has no image data; "
            "pass hdu= the index or name of the HDU that holds the image"
        )
    return h


class _Stored(NamedTuple):
    """The image of one file as stored, and how to read it."""

    raw: np.ndarray  # memory-mapped by astropy (any byte order); readable after the file is closed
    dtype: np.dtype  # the type it is read as
    unsigned16: bool  # its sign bit must be flipped (unsigned_from_offset16)
    offset: int | None  # where the data start in the file, in bytes (None: compressed)


def _mapped(path: Path, hdu) -> _Stored | None:
    """The image of one file as stored, memory-mapped by astropy, and how to read it.

    It is read as ``uint16`` for 16-bit data with ``BZERO = 32768``, else as
    the stored type in native order. None when astropy must scale the data
    (other ``BSCALE``/``BZERO``, ``BLANK``, compressed images).
    """
    from astropy.io import fits

    if not path.is_file():
        raise FileNotFoundError(f"No such FITS file: {str(path)!r}")
    with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdul:
        h = _image_hdu(hdul, hdu, path)
        header = h.header
        plain = isinstance(h, (fits.PrimaryHDU, fits.ImageHDU))
        bscale = header.get("BSCALE", 1)
        bzero = header.get("BZERO", 0)
        unsigned16 = (
            plain and header.get("BITPIX") == 16 and bzero == 32768 and bscale == 1
            and "BLANK" not in header
        )
        if not (unsigned16 or (plain and bzero == 0 and bscale == 1)):
            return None
        raw = h.data
        dtype = np.dtype(np.uint16) if unsigned16 else raw.dtype.newbyteorder("=")
        stored_as_is = not isinstance(h, fits.CompImageHDU)  # (a subclass of ImageHDU in astropy 7+)
        return _Stored(raw, dtype, unsigned16, h.fileinfo()["datLoc"] if stored_as_is else None)


def _convert(raw: np.ndarray, unsigned16: bool, out: np.ndarray) -> None:
    """Stored values (see :func:`_mapped`) into ``out``, in its type and native order."""
    if unsigned16:
        unsigned_from_offset16(raw, out)
    else:
        np.copyto(out, raw)


def _read_one(path: Path, hdu, out: np.ndarray | None = None, index: int = 0) -> np.ndarray:
    """Read one image; into ``out`` (checking shape and type) if given."""
    from astropy.io import fits

    mapped = _mapped(path, hdu)
    if mapped is not None:
        raw, dtype, unsigned16, _ = mapped
        if out is None:
            out = np.empty(raw.shape, dtype=dtype)
        _check_frame(path, index, raw.shape, dtype, out.shape, out.dtype)
        _convert(raw, unsigned16, out)
        return out
    with fits.open(path) as hdul:  # scaled data: let astropy apply BSCALE/BZERO
        data = _image_hdu(hdul, hdu, path).data
        if out is None:
            return np.array(data, dtype=data.dtype.newbyteorder("="))
        _check_frame(path, index, data.shape, data.dtype, out.shape, out.dtype)
        np.copyto(out, data)
        return out


def _check_frame(name, index, shape, dtype, first_shape, first_dtype):
    if tuple(shape) != tuple(first_shape):
        raise ValueError(
            f"Frame {index} ({name}) has shape {tuple(shape)}, but the first frame has "
            f"shape {tuple(first_shape)}; all frames must have the same shape"
        )
    if not np.can_cast(dtype, first_dtype, casting="safe"):
        raise TypeError(
            f"Frame {index} ({name}) has data type {np.dtype(dtype)}, which does not fit "
            f"in the first frame's {np.dtype(first_dtype)}; read the files yourself and pass a list "
            "of arrays of one type"
        )


def read_stack(
    paths: Sequence[PathLike],
    hdu: int | str | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Read FITS images into one ``(N, ny, nx)`` array, allocated once.

    Parameters
    ----------
    paths : sequence of str, bytes or pathlib.Path
        The FITS files, in the order of the stack.
    hdu : int, str or None, optional
        Index or name (EXTNAME) of the HDU that holds the image, the same in
        every file. Default None: in each file, the first HDU with an image
        (the primary HDU, or extension 1 of a compressed ``CompImageHDU``
        file).
    progress : bool or None, optional
        Show a progress bar (a widget in a notebook, text on stderr
        elsewhere; see :mod:`course_utils.progress`). ``None`` (default) shows one
        when reading 10 files or more. Setting the environment variable
        ``TQDM_DISABLE=1`` hides it in every case.

    Returns
    -------
    stack : ndarray, shape (N, ny, nx)
        The images, in the data type of the files as astropy reads them:
        ``uint16`` for 16-bit files with ``BZERO = 32768`` (the course's raw
        frames), float for files scaled with other ``BSCALE``/``BZERO``.

    Raises
    ------
    FileNotFoundError
        A file does not exist (its name is in the message).
    ValueError
        An empty list, a file whose HDU holds no image, or a file whose
        image has another shape than the first one.
    TypeError
        A file whose data type does not fit in the first file's.
    OSError
        A file astropy cannot read (empty, truncated, corrupt, not FITS):
        the message names the file and its place in the list.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from astropy.io import fits
    >>> from course_utils import read_stack
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     fits.PrimaryHDU(np.full((4, 5), 817 + i, dtype=np.uint16)).writeto(folder / f"b{i}.fits")
    >>> stack = read_stack(sorted(folder.glob("b*.fits")))
    >>> stack.shape, stack.dtype, stack[:, 0, 0]
    ((3, 4, 5), dtype('uint16'), array([817, 818, 819], dtype=uint16))
    """
    paths = as_paths(paths)
    if not paths:
        raise ValueError("read_stack() needs at least one FITS file; got an empty list")
    show = len(paths) >= PROGRESS_MIN_FILES if progress is None else bool(progress)
    first = _read_named(paths[0], hdu, None, 0)
    stack = np.empty((len(paths),) + first.shape, dtype=first.dtype)
    stack[0] = first
    del first
    rest = enumerate(paths[1:], start=1)
    with progress_bar(total=len(paths), initial=1, desc="Reading FITS files",
                      leave=True, enabled=show) as bar:
        for i, path in rest:
            _read_named(path, hdu, stack[i], i)
            bar.update()
    return stack


class FileFrames:
    """FITS images made into frames a band of rows at a time, as :func:`read_stack` would read them.

    What :func:`course_utils.combine` reads file names into when it can
    combine a band of rows at a time (:func:`open_frames`): no whole stack
    is read first, and reading a band overlaps with combining the one
    before. ``rows(r0, r1)`` reads rows ``r0:r1`` of every image (one read
    per file, into the band itself where the types allow) into a new
    ``(N, r1 - r0, nx)`` array of :attr:`dtype`: the values :func:`read_stack`
    gives.
    """

    def __init__(self, paths: list[Path], stored: list[_Stored], shape: tuple, dtype: np.dtype):
        self.paths, self.dtype = paths, np.dtype(dtype)
        # (path, offset, stored type, sign bit flipped): no file is held open or mapped.
        self.files = [(p, s.offset, s.raw.dtype, s.unsigned16) for p, s in zip(paths, stored)]
        self.n, self.shape = len(paths), tuple(shape)
        #: Bytes per value of a band that :meth:`rows` makes.
        self.copy_bytes = self.dtype.itemsize

    def rows(self, r0: int, r1: int, out: np.ndarray | None = None):
        """Rows ``r0:r1`` of every image, in ``out`` (an ``(N, r1 - r0, nx)`` array of :attr:`dtype`) if given."""
        from .frames import Frames

        nx = self.shape[1]
        band = np.empty((self.n, r1 - r0, nx), dtype=self.dtype) if out is None else out
        for i, (path, offset, stored, unsigned16) in enumerate(self.files):
            in_place = unsigned16 or stored.newbyteorder("=") == self.dtype  # (the same bytes a value)
            into = band[i] if in_place else np.empty((r1 - r0, nx), stored)
            with open(path, "rb", buffering=0) as f:
                f.seek(offset + r0 * nx * stored.itemsize)
                got = f.readinto(memoryview(into).cast("B"))
            if got != into.nbytes:
                raise OSError(f"Cannot read frame {i}, FITS file {str(path)!r}: it ends before its "
                              f"data ({got} of {into.nbytes} bytes of rows {r0}-{r1 - 1}); was it "
                              "changed while combine() read it?")
            # The stored values (the band's own bytes, in place: numpy converts elementwise).
            _convert(into.view(stored), unsigned16, band[i])
        return Frames(band)


def open_frames(paths: Sequence[PathLike], hdu: int | str | None = None,
                progress: bool | None = None) -> FileFrames | None:
    """Open FITS images for :class:`FileFrames`: every header read and checked, no data read.

    The same files, checks and errors as :func:`read_stack`. Returns None
    when the images cannot be read a band at a time (data that astropy
    must scale or decompress, or not 2-D): then use :func:`read_stack`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.io import fits
    >>> name = pathlib.Path(tempfile.mkdtemp()) / "a.fits"
    >>> fits.PrimaryHDU(np.arange(6, dtype=np.uint16).reshape(3, 2)).writeto(name)
    >>> opened = open_frames([name])
    >>> opened.rows(1, 3).stack.tolist()
    [[[2, 3], [4, 5]]]
    """
    paths = as_paths(paths)
    if not paths:
        raise ValueError("read_stack() needs at least one FITS file; got an empty list")
    show = len(paths) >= PROGRESS_MIN_FILES if progress is None else bool(progress)
    stored, first = [], None
    with progress_bar(total=len(paths), desc="Reading FITS files", leave=True, enabled=show) as bar:
        for i, path in enumerate(paths):
            mapped = _read_named(path, hdu, None, i, read=_mapped)
            if mapped is None or mapped.offset is None or mapped.raw.ndim != 2:  # (read_stack then)
                return None
            if first is None:
                first = mapped.raw.shape, mapped.dtype
            _check_frame(path, i, mapped.raw.shape, mapped.dtype, *first)
            stored.append(mapped._replace(raw=np.empty(0, mapped.raw.dtype)))  # (unmapped)
            bar.update()
    return FileFrames(paths, stored, *first)


def _read_named(path: Path, hdu, out: np.ndarray | None, index: int, read=None):
    """:func:`_read_one` (or ``read(path, hdu)``), with any failure of astropy's naming the file and its place.

    astropy warns before it fails on a damaged file ("File may have been
    truncated"); such warnings become part of the error, so that a student
    sees one message that names the file. After a successful read they are
    passed on unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = _read_one(path, hdu, out, index) if read is None else read(path, hdu)
        except (FileNotFoundError, ValueError, TypeError) as exc:
            if str(path) in str(exc):  # our own messages name the file already
                raise
            raise OSError(f"Cannot read frame {index}, FITS file {str(path)!r}: "
                          f"{type(exc).__name__}: {exc}{_said(caught)}") from exc
        except OSError as exc:  # astropy: "Empty or corrupt FITS file", "No SIMPLE card found"
            raise OSError(f"Cannot read frame {index}, FITS file {str(path)!r} (corrupt, truncated "
                          f"or not FITS?): {exc}{_said(caught)}") from exc
    for record in caught:
        warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    return image


def _said(caught: list) -> str:
    """What astropy warned while reading, to end an error message with."""
    notes = sorted({str(record.message) for record in caught})
    return "".join(f" (astropy warned: {note})" for note in notes)


def as_paths(paths) -> list[Path]:
    """File names as a list of `pathlib.Path`.

    ``paths`` may be a list or tuple of str, bytes (decoded as the file
    system does) or `os.PathLike`, or an array of
    strings, such as an astropy ``Column`` of file names or what ccdproc's
    ``ImageFileCollection.files_filtered()`` returns.

    Examples
    --------
    >>> [p.name for p in as_paths(np.array(["night1/a.fits", "night1/b.fits"]))]
    ['a.fits', 'b.fits']
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise ValueError("Pass a list of FITS paths, not a single path")
    if isinstance(paths, np.ndarray) and paths.dtype.kind in "SU":
        paths = [os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in paths.ravel()]
    out = []
    for p in paths:
        if not isinstance(p, (str, bytes, os.PathLike)):
            raise TypeError(f"Expected FITS paths (str, bytes or pathlib.Path), got {type(p).__name__}")
        out.append(Path(os.fsdecode(p)))
    return out
