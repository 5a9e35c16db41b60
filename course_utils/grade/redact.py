"""Feedback without reference values.

The checks' messages sometimes quote the reference answer ("expected about
3.97 DU"), which is fine in a student's own notebook but must not reach a
feedback file that could be passed around. :func:`redact` keeps the
student's own values (a backticked name followed by ``=``: ``\\`spread\\` =
4.01 DU``), integers in plain clauses (shapes, counts, ``5 * spread``) and
code spans; it replaces by ``…`` every other number that has a decimal point
or an exponent, and every number in a clause that speaks of the expected,
reference or true value.

Examples
--------
>>> redact("`read_noise` = 5.00 DU is off (expected about 3.97 DU per frame).")
'`read_noise` = 5.00 DU is off (expected about … DU per frame).'
>>> redact("`difference` has shape (3, 4), not (1156, 2176).")
'`difference` has shape (3, 4), not (1156, 2176).'
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_CODE = re.compile(r"(`[^`]*`)")
_CLAUSE = re.compile(r"((?<!\d)[.;:()](?!\d)|,\s)")
_NUMBER = re.compile(r"(?<![\w.])([-+−]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w])")
_REFERENCE = re.compile(r"expected|reference|\btrue\b|\x00EG\x00|median gives|should be about|"
                        r"the answer", re.IGNORECASE)
_EG = "\x00EG\x00"  # "e.g." must not end a clause
PLACEHOLDER = "…"


def redact(message: str) -> str:
    """``message`` with reference values replaced by ``…`` (see the module's rule)."""
    parts = _CODE.split(message)
    out = []
    for index, part in enumerate(parts):
        if index % 2:  # a code span, kept whole
            out.append(part)
            continue
        own_value = bool(out) and out[-1].startswith("`") and re.match(r"^\s*=\s*", part)
        out.append(_redact_text(part, keep_first=bool(own_value)))
    return "".join(out)


def _redact_text(text: str, keep_first: bool) -> str:
    pieces = _CLAUSE.split(text.replace("e.g.", _EG))
    result = []
    for number, clause in enumerate(pieces):
        referential = bool(_REFERENCE.search(clause))

        def replace(match, first=[keep_first and number == 0]):
            value = match.group(1)
            if first[0]:
                first[0] = False
                return value
            if referential or re.search(r"[.eE]", value):
                return PLACEHOLDER
            return value

        result.append(_NUMBER.sub(replace, clause))
    return "".join(result).replace(_EG, "e.g.")
