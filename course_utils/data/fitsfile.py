"""Write uint16 frames as FITS files exactly as the real CCD frames are stored.

The real frames are 16-bit integers stored with ``BITPIX = 16`` and
``BZERO = 32768``, which astropy reads back as ``uint16``. This module writes
the header it is given, card for card and in that order (astropy would move
BSCALE/BZERO to the end and add EXTEND), followed by the big-endian data, so
the files look like the real ones and are byte-for-byte reproducible.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from astropy.io import fits
>>> from course_utils.data.fitsfile import uint16_header, write_uint16_fits
>>> data = np.array([[817, 65535], [0, 820]], dtype=np.uint16)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = write_uint16_fits(Path(tmp) / "frame.fits", data, uint16_header(data.shape))
...     with fits.open(path) as hdul:
...         print(hdul[0].data.dtype, hdul[0].data.tolist(), int(hdul[0].header["BZERO"]))
uint16 [[817, 65535], [0, 820]] 32768
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..combining.fits_frames import offset16_from_unsigned

__all__ = ["uint16_header", "write_uint16_fits", "fits_bytes"]

_BLOCK = 2880


def uint16_header(shape: tuple[int, int]) -> fits.Header:
    """The minimal header of a uint16 image of ``shape`` (rows, columns)."""
    return fits.Header([
        ("SIMPLE", True, "conforms to FITS standard"),
        ("BITPIX", 16, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", int(shape[1])),
        ("NAXIS2", int(shape[0])),
        ("BSCALE", 1.0, "real=bzero+bscale*value"),
        ("BZERO", 32768.0),
    ])


def _check(data: np.ndarray, header: fits.Header) -> None:
    if data.dtype != np.uint16 or data.ndim != 2:
        raise TypeError(f"expected a 2-D uint16 array, got {data.ndim}-D {data.dtype}")
    expected = {"SIMPLE": True, "BITPIX": 16, "NAXIS": 2,
                "NAXIS1": data.shape[1], "NAXIS2": data.shape[0], "BZERO": 32768}
    for key, value in expected.items():
        if header.get(key) != value:
            raise ValueError(
                f"header {key} = {header.get(key)!r} does not fit a uint16 array of shape "
                f"{data.shape} (expected {value!r})"
            )


def fits_bytes(data: np.ndarray, header: fits.Header) -> bytes:
    """Return the bytes of a single-HDU FITS file holding uint16 ``data``."""
    _check(data, header)
    head = header.tostring(sep="", endcard=True, padding=True).encode("ascii")
    body = offset16_from_unsigned(data).tobytes(order="C")
    padding = b"\0" * (-len(body) % _BLOCK)
    return head + body + padding


def write_uint16_fits(path: str | os.PathLike, data: np.ndarray, header: fits.Header) -> Path:
    """Write ``data`` (2-D uint16) with ``header`` to a new FITS file at ``path``.

    The file must not exist yet (nothing is overwritten).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    with open(path, "xb") as file:
        file.write(fits_bytes(data, header))
    return path
