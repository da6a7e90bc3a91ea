"""EventBridge (Scheduler) schedule expressions, checked field by field at synth.

``rate(value unit)``: a whole number from 1 with ``minute|hour|day`` (singular for 1, plural above).
``cron(minutes hours day-of-month month day-of-week year)``, as EventBridge documents the fields:

=============  ==========================  ==================
field          values                      wildcards
=============  ==========================  ==================
minutes        0-59                        , - * /
hours          0-23                        , - * /
day-of-month   1-31                        , - * ? / L W
month          1-12 or JAN-DEC             , - * /
day-of-week    1-7 or SUN-SAT              , - * ? L #
year           1970-2199                   , - * /
=============  ==========================  ==================

and one of day-of-month and day-of-week must be ``?``. Plain Python: the config loader and the
``RetrainingSchedule`` construct share it.
"""

from __future__ import annotations

import re

from .errors import ConfigError, cut

_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
#: (name, low, high, names) per cron field, in order.
_FIELDS = (("minutes", 0, 59, {}), ("hours", 0, 23, {}), ("day-of-month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day-of-week", 1, 7, _DAYS), ("year", 1970, 2199, {}))
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.*)\)")


def check_schedule(path: str, expression: object) -> str:
    """Return ``expression`` if EventBridge accepts it, else raise ``ConfigError`` naming the field."""
    if not isinstance(expression, str):
        raise ConfigError(path, f"must be an EventBridge schedule 'rate(...)' or 'cron(...)', got {cut(expression)}")
    rate = _RATE.fullmatch(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ConfigError(path, f"the rate must be at least 1, got {expression!r}")
        if (value == 1) == unit.endswith("s"):
            raise ConfigError(path, f"the unit is singular for 1 and plural above (rate(1 day), rate(2 days)), "
                              f"got {expression!r}")
        return expression
    cron = _CRON.fullmatch(expression)
    if not cron:
        raise ConfigError(path, "must be an EventBridge schedule: 'rate(N minutes|hours|days)' or 'cron(m h dom mon "
                          f"dow year)' with six fields, got {cut(expression)}")
    fields = cron.group(1).split(" ")
    if len(fields) != 6 or not all(fields):
        raise ConfigError(path, f"a cron expression has six fields (minutes hours day-of-month month day-of-week "
                          f"year) separated by single spaces, got {len(fields)} in {cut(expression)}")
    for value, (name, low, high, names) in zip(fields, _FIELDS):
        for item in value.split(","):
            if not _item_ok(item.upper(), name, low, high, names):
                allowed = f"{low}-{high}" + (f" or {min(names, key=names.get)}-{max(names, key=names.get)}"
                                             if names else "")
                raise ConfigError(path, f"cron {name} must be {allowed} (with the field's wildcards), got "
                                  f"{item!r} in {cut(expression)}")
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        raise ConfigError(path, f"cron: exactly one of day-of-month and day-of-week must be '?', got {dom!r} and "
                          f"{dow!r} in {cut(expression)}")
    return expression


def _item_ok(item: str, name: str, low: int, high: int, names: dict[str, int]) -> bool:
    """Whether one comma-separated item of a cron field is valid."""
    def number(token: str) -> bool:
        if token in names:
            return True
        return token.isdigit() and low <= int(token) <= high

    if item == "*":
        return True
    if item == "?":
        return name in ("day-of-month", "day-of-week")
    if name == "day-of-month" and item in ("L", "LW"):
        return True
    if name == "day-of-month" and item.endswith("W"):
        return number(item[:-1])
    if name == "day-of-week" and item.endswith("L"):
        return item == "L" or number(item[:-1])
    if name == "day-of-week" and "#" in item:
        day, nth = item.split("#", 1)
        return number(day) and nth.isdigit() and 1 <= int(nth) <= 5
    if "/" in item:
        if name == "day-of-week":  # its wildcards are , - * ? L # (no increments)
            return False
        base, step = item.split("/", 1)
        if not (step.isdigit() and int(step) >= 1):
            return False
        item = base
        if item == "*":
            return True
    if "-" in item:
        start, end = item.split("-", 1)
        return number(start) and number(end)
    return number(item)
