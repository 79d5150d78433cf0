"""Go's ``time`` package as dockerd uses it: RFC 3339 in and out, ``Duration.String``.

Also ``go-units.HumanDuration`` (docker/go-units), the ages ``docker ps`` shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

__all__ = [
    "ZERO_TIME",
    "TimeParseError",
    "duration_string",
    "format_rfc3339",
    "human_duration",
    "parse_rfc3339",
    "rfc3339_nano",
    "time_quote",
]

#: Go's zero ``time.Time`` (``0001-01-01T00:00:00Z``).
ZERO_TIME: Final = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------
# Formatting


def format_rfc3339(value: dt.datetime) -> str:
    """``time.Time.MarshalJSON`` content: RFC 3339 with trimmed nanoseconds."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"gojson: cannot encode a naive datetime ({value!r}); give it a tzinfo")
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += "." + f"{value.microsecond * 1000:09d}".rstrip("0")
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return text + "Z"
    minutes = abs(seconds) // 60  # Go divides toward zero
    sign = "-" if seconds < 0 and minutes else "+"
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def rfc3339_nano(unix: float | None) -> str:
    """A Unix time as ``encoding/json`` writes a ``time.Time`` (RFC 3339, nanoseconds, UTC).

    ``None`` is Go's zero time.
    """
    if unix is None:
        return "0001-01-01T00:00:00Z"
    moment = dt.datetime.fromtimestamp(unix, tz=dt.UTC)
    nanos = round((unix % 1) * 1e9) % 1_000_000_000
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    return f"{base}{frac}Z"


def duration_string(seconds: float) -> str:
    """Seconds as Go's ``time.Duration.String`` writes them (``1s``, ``1m30s``, ``500ms``)."""
    total = round(seconds, 9)
    if total == int(total) and total >= 0:
        whole = int(total)
        if whole < 60:
            return f"{whole}s"
        minutes, secs = divmod(whole, 60)
        if minutes < 60:
            return f"{minutes}m{secs}s"
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes}m{secs}s"
    if total < 1:
        ms = total * 1000
        return f"{ms:g}ms"
    return f"{total:g}s"


def human_duration(seconds: float) -> str:
    """``go-units.HumanDuration``, as ``docker ps`` shows ages ("5 seconds", "About a minute")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


# ---------------------------------------------------------------------------
# Parsing: time.Time.UnmarshalJSON (RFC 3339)


_RFC3339: Final = b"2006-01-02T15:04:05Z07:00"
_DAYS_BEFORE_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class TimeParseError(Exception):
    """Go's ``*time.ParseError`` (or a limit of Python's datetime); ``str()`` is the text."""


def time_quote(text: bytes) -> str:
    """The ``time`` package's own ``quote``: non-ASCII and control bytes as ``\\xNN``."""
    out = ['"']
    for byte in text:
        if byte >= 0x80 or byte < 0x20:
            out.append(f"\\x{byte:02x}")
        elif byte in b'"\\':
            out.append("\\" + chr(byte))
        else:
            out.append(chr(byte))
    out.append('"')
    return "".join(out)


def _days_in(month: int, year: int) -> int:
    """Days in ``month`` of ``year`` (proleptic Gregorian, year 0 is a leap year)."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_BEFORE_MONTH[month - 1]


def _nanos(digits: bytes) -> int:
    """Fraction digits as nanoseconds, truncated to nine digits."""
    return int(digits[:9].ljust(9, b"0"))


def _uint(text: bytes, low: int, high: int) -> int | None:
    """``text`` as a decimal in ``[low, high]``, or None."""
    if not text.isdigit() or not text.isascii():
        return None
    number = int(text)
    return number if low <= number <= high else None


_TimeParts = tuple[int, int, int, int, int, int, int, int | None]


def _fast_rfc3339(text: bytes) -> _TimeParts | None:
    """Go's ``parseRFC3339`` fast path: the parts, or None to fall back to ``time.Parse``."""
    if (
        len(text) < 19
        or text[4:5] + text[7:8] + text[10:11] + text[13:14] + text[16:17] != b"--T::"
    ):
        return None
    year = _uint(text[0:4], 0, 9999)
    month = _uint(text[5:7], 1, 12)
    if year is None or month is None:
        return None
    day = _uint(text[8:10], 1, _days_in(month, year))
    hour = _uint(text[11:13], 0, 23)
    minute = _uint(text[14:16], 0, 59)
    second = _uint(text[17:19], 0, 59)
    if day is None or hour is None or minute is None or second is None:
        return None
    rest, nsec = text[19:], 0
    if len(rest) >= 2 and rest[0:1] == b"." and rest[1:2].isdigit():
        count = 2
        while count < len(rest) and rest[count : count + 1].isdigit():
            count += 1
        nsec, rest = _nanos(rest[1:count]), rest[count:]
    if rest == b"Z":
        return year, month, day, hour, minute, second, nsec, None
    if len(rest) != 6 or rest[0:1] not in (b"+", b"-") or rest[3:4] != b":":
        return None
    zone_hour, zone_minute = _uint(rest[1:3], 0, 23), _uint(rest[4:6], 0, 59)
    if zone_hour is None or zone_minute is None:
        return None
    offset = (zone_hour * 60 + zone_minute) * 60
    return year, month, day, hour, minute, second, nsec, -offset if rest[0:1] == b"-" else offset


def _getnum(text: bytes, *, fixed: bool) -> tuple[int, bytes] | None:
    """Go's ``getnum``: one or two leading digits (exactly two when ``fixed``)."""
    if not text[0:1].isdigit():
        return None
    if not text[1:2].isdigit():
        return None if fixed else (text[0] - 48, text[1:])
    return (text[0] - 48) * 10 + text[1] - 48, text[2:]


class _LayoutParse:
    """Go's general ``time.Parse`` for the one layout ``2006-01-02T15:04:05Z07:00``."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.rest = text

    def cannot(self, layout_elem: bytes, value_elem: bytes) -> TimeParseError:
        """A ``ParseError`` without a message."""
        q = time_quote
        return TimeParseError(
            f"parsing time {q(self.text)} as {q(_RFC3339)}: "
            f"cannot parse {q(value_elem)} as {q(layout_elem)}"
        )

    def out_of_range(self, what: str) -> TimeParseError:
        """A ``ParseError`` with a ``: ... out of range`` message."""
        return TimeParseError(f"parsing time {time_quote(self.text)}: {what} out of range")

    def skip(self, prefix: bytes) -> None:
        """Consume a literal layout byte."""
        if self.rest[0:1] != prefix:
            raise self.cannot(prefix, self.rest)
        self.rest = self.rest[1:]

    def number(self, layout_elem: bytes, *, fixed: bool, limit: int, what: str) -> int:
        """Consume a one/two-digit field that must be below ``limit``."""
        got = _getnum(self.rest, fixed=fixed)
        if got is None:
            raise self.cannot(layout_elem, self.rest)
        number, self.rest = got
        if number >= limit:
            raise self.out_of_range(what)
        return number

    def year(self) -> int:
        """Consume ``2006``: four digits."""
        head = self.rest[:4]
        if len(head) < 4 or not head.isdigit():
            raise self.cannot(b"2006", self.rest)
        self.rest = self.rest[4:]
        return int(head)

    def fraction(self) -> int:
        """Consume a fractional second the layout does not mention (``.`` or ``,``)."""
        rest = self.rest
        if len(rest) < 2 or rest[0:1] not in (b".", b",") or not rest[1:2].isdigit():
            return 0
        count = 2
        while count < len(rest) and rest[count : count + 1].isdigit():
            count += 1
        self.rest = rest[count:]
        return _nanos(rest[1:count])

    def zone(self) -> int | None:
        """Consume ``Z07:00``: ``Z`` (UTC, None) or ``±hh:mm`` (offset in seconds)."""
        hold = self.rest
        if hold[0:1] == b"Z":
            self.rest = hold[1:]
            return None
        if len(hold) < 6 or hold[3:4] != b":":
            raise self.cannot(b"Z07:00", hold)
        hour = _getnum(hold[1:3], fixed=True)
        minute = _getnum(hold[4:6], fixed=True) if hour is not None else None
        self.rest = hold[6:]
        hours = hour[0] if hour is not None else 0
        minutes = minute[0] if minute is not None else 0
        if minutes > 60:
            raise self.out_of_range("time zone offset minute")
        if hours > 24:
            raise self.out_of_range("time zone offset hour")
        if minute is None or hold[0:1] not in (b"+", b"-"):
            raise self.cannot(b"Z07:00", hold)
        offset = (hours * 60 + minutes) * 60
        return -offset if hold[0:1] == b"-" else offset

    def parse(self) -> _TimeParts:
        """Run the layout; return the parts or raise :class:`TimeParseError` with Go's text."""
        year = self.year()
        self.skip(b"-")
        got = _getnum(self.rest, fixed=True)
        if got is None:
            raise self.cannot(b"01", self.rest)
        month, self.rest = got
        if not 1 <= month <= 12:
            raise self.out_of_range("month")
        self.skip(b"-")
        got = _getnum(self.rest, fixed=True)
        if got is None:
            raise self.cannot(b"02", self.rest)
        day, self.rest = got
        self.skip(b"T")
        hour = self.number(b"15", fixed=False, limit=24, what="hour")
        self.skip(b":")
        minute = self.number(b"04", fixed=True, limit=60, what="minute")
        self.skip(b":")
        second = self.number(b"05", fixed=True, limit=60, what="second")
        nsec = self.fraction()
        offset = self.zone()
        if self.rest:
            q = time_quote
            raise TimeParseError(f"parsing time {q(self.text)}: extra text: {q(self.rest)}")
        if not 1 <= day <= _days_in(month, year):
            raise TimeParseError(f"parsing time {time_quote(self.text)}: day out of range")
        return year, month, day, hour, minute, second, nsec, offset


def parse_rfc3339(raw: bytes) -> dt.datetime:
    """``time.Time.UnmarshalJSON`` on the bytes between the quotes (Go does not unescape).

    Raises :class:`TimeParseError` with Go's text.
    """
    parts = _fast_rfc3339(raw) or _LayoutParse(raw).parse()
    year, month, day, hour, minute, second, nsec, offset = parts
    if year < 1:
        raise TimeParseError(
            f"parsing time {time_quote(raw)}: year 0 cannot be held by a Python datetime"
        )
    tz = dt.UTC
    if offset:
        if abs(offset) >= 86400:
            raise TimeParseError(
                f"parsing time {time_quote(raw)}: a zone offset of 24 hours or more "
                "cannot be held by a Python datetime"
            )
        tz = dt.timezone(dt.timedelta(seconds=offset))
    return dt.datetime(year, month, day, hour, minute, second, nsec // 1000, tzinfo=tz)
