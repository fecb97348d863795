"""Numbers and times read straight out of bytes, for a whole block of values at once.

The importers' fast paths (big GPX and CSV files) find where each value is in a block of
bytes and hand the spans here: the values come back as numpy arrays, with a mask of the
spans read. A span this module does not read with certainty (an exponent, too many
digits, a time in another shape...) is simply not ``ok``, and the caller reads that
block the slow way, one value at a time: the fast path never decides anything the slow
path would decide differently.

Exactness is the point, because the dedupe key compares floats: the same text must give
the very float Python's ``float()`` gives. A decimal with at most 15 digits is an integer
``M < 2**53`` divided by ``10**f`` (``f <= 15``), two numbers a double holds exactly, and
IEEE division rounds the exact quotient correctly, as ``float()`` does (Clinger's fast
path of every correct strtod). Times are ``YYYY-MM-DDTHH:MM:SS[.fff]Z``, computed as
integer milliseconds / 1000 like :class:`~trackdesk.tracks.base.TimeParser`.
"""

from __future__ import annotations

import numpy as np

MAX_DIGITS = 15  # M < 10**15 < 2**53: exact in a double
_DIGIT, _DOT, _MINUS = 48, 46, 45
_POW10 = 10.0 ** np.arange(MAX_DIGITS + 1)


def decimals(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
             empty_ok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Values of the decimals ``buf[starts[i]:ends[i]]`` (``-?\\d*\\.?\\d*``, at least
    one digit) and a mask of the spans read. With ``empty_ok`` an empty span reads as
    NaN (an optional value left blank) and counts as read."""
    n = len(starts)
    length = ends - starts
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    longest = int(length.max())
    ok = length > 0
    first = buf[np.minimum(starts, len(buf) - 1)]
    neg = ok & (first == _MINUS)
    pos = starts + neg
    mant = np.zeros(n, dtype=np.int64)
    digits = np.zeros(n, dtype=np.int64)
    frac = np.zeros(n, dtype=np.int64)   # digits after the dot
    dot = np.zeros(n, dtype=bool)
    last = len(buf) - 1
    for j in range(longest):
        at = pos + j
        inside = at < ends
        if not inside.any():
            break
        c = buf[np.minimum(at, last)].astype(np.int64)
        d = c - _DIGIT
        is_digit = inside & (d >= 0) & (d <= 9)
        is_dot = inside & (c == _DOT)
        ok &= ~inside | is_digit | (is_dot & ~dot)  # anything else, or a second dot
        mant = np.where(is_digit, mant * 10 + d, mant)
        digits += is_digit
        frac += is_digit & dot
        dot |= is_dot
    ok &= (digits >= 1) & (digits <= MAX_DIGITS)
    values = mant / _POW10[np.minimum(frac, MAX_DIGITS)]
    values = np.where(neg, -values, values)
    if empty_ok:
        blank = length == 0
        values[blank] = np.nan
        ok |= blank
    return values, ok


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def iso_z(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds of ``YYYY-MM-DDTHH:MM:SSZ`` or ``...SS.fffZ`` spans (one to
    three fraction digits), and a mask of the spans read."""
    n = len(starts)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    length = ends - starts
    ok = (length == 20) | ((length >= 22) & (length <= 24))
    last = len(buf) - 1

    def at(k: int | np.ndarray) -> np.ndarray:
        return buf[np.minimum(starts + k, last)].astype(np.int64)

    def num(*offsets: int) -> np.ndarray:
        nonlocal ok
        v = np.zeros(n, dtype=np.int64)
        for k in offsets:
            d = at(k) - _DIGIT
            ok &= (d >= 0) & (d <= 9)
            v = v * 10 + d
        return v

    for k, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        ok &= at(k) == ord(ch)
    ok &= at(length - 1) == ord("Z")
    year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
    hour, minute, sec = num(11, 12), num(14, 15), num(17, 18)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    dim = _MONTH_DAYS[np.where(month_ok, month, 0)] + (leap & (month == 2))
    ok &= month_ok & (day >= 1) & (day <= dim) & (hour <= 23) & (minute <= 59) & (sec <= 59)
    # Fraction: '.', then 1-3 digits up to the 'Z'.
    has_frac = length > 20
    ms = np.zeros(n, dtype=np.int64)
    if has_frac.any():
        ok &= ~has_frac | (at(19) == _DOT)
        nfrac = np.where(has_frac, length - 21, 0)
        for k in range(3):
            d = at(20 + k) - _DIGIT
            use = k < nfrac
            ok &= ~use | ((d >= 0) & (d <= 9))
            ms = np.where(use, ms * 10 + d, ms)
        ms = ms * np.where(nfrac == 1, 100, np.where(nfrac == 2, 10, 1))
    days = days_from_civil(year, np.where(month_ok, month, 1), day)
    total = ((days * 24 + hour) * 60 + minute) * 60 + sec
    return (total * 1000 + ms) / 1000, ok


def normal_coord(x: np.ndarray) -> np.ndarray:
    """``round(x * 1e7) / 1e7`` per value, as Points.add computes it (round half even)."""
    return np.rint(x * 1e7) / 1e7


def normal_ts(t: np.ndarray) -> np.ndarray:
    """``round(t * 1000) / 1000`` per value (epoch seconds to whole milliseconds)."""
    return np.rint(t * 1000) / 1000
