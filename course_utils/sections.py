"""FITS section keywords, such as ``BIASSEC`` and ``DATASEC``, as numpy slices.

FITS headers describe regions of the array in FITS's own convention; numpy
counts differently. :func:`fits_section` translates.
"""

from __future__ import annotations

import re

__all__ = ["fits_section"]

_SECTION = re.compile(r"^\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*$")


def fits_section(section: str) -> tuple[slice, slice]:
    """Turn a FITS section such as ``'[2049:2176,1029:1156]'`` into numpy slices.

    FITS sections count from 1, include both ends and give the column (x)
    range first; numpy counts from 0, excludes the end and indexes rows (y)
    first. ``'[x1:x2,y1:y2]'`` therefore becomes
    ``(slice(y1 - 1, y2), slice(x1 - 1, x2))``.

    Parameters
    ----------
    section : str
        A section keyword value, e.g. ``header['BIASSEC']``.

    Returns
    -------
    rows, columns : slice
        Use as ``data[rows, columns]``.

    Examples
    --------
    >>> fits_section('[2049:2176,1029:1156]')
    (slice(1028, 1156, None), slice(2048, 2176, None))
    """
    match = _SECTION.match(section)
    if match is None:
        raise ValueError(
            f"{section!r} is not a FITS section like '[1:2048,1:1028]' "
            "(columns first, then rows, both counted from 1)."
        )
    x1, x2, y1, y2 = (int(v) for v in match.groups())
    if x1 < 1 or y1 < 1 or x2 < x1 or y2 < y1:
        raise ValueError(f"{section!r} is not a valid FITS section: ranges must increase from 1.")
    return slice(y1 - 1, y2), slice(x1 - 1, x2)
