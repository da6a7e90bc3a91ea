"""The library's single error type for bad input, and the numeric rules every value object checks with.

Every rule SageMaker or CloudFormation would enforce only at deploy time is checked at synth and raised as a
``ConfigError`` whose message is one line: ``<path>: <rule>, got <value>``. The path is a construct property
(``production_variants[1].weight``) or, when the input came from the YAML config, the config path
(``models[0].stages.prod.deployment.canary_size``).

Plain Python with no import outside this folder: the release phases' function ships ``ops/`` alone
(``release.ReleaseGates``), and its gates check their settings with these. ``constructs_lib.errors`` re-exports
everything here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping


#: Longest path and message an error line shows.
MAX_PATH = 200
MAX_MESSAGE = 400


class ConfigError(ValueError):
    """Bad input, found at synth before any template is written.

    ``path`` names the property or config path, ``message`` the rule and the value received.
    """

    def __init__(self, path: str, message: str) -> None:
        # One readable line whatever was given: a pasted document as a key or a value is cut, its length said.
        self.path = path if len(path) <= MAX_PATH else f"{path[:MAX_PATH - 30]}... ({len(path)} characters)"
        self.message = (message if len(message) <= MAX_MESSAGE
                        else f"{message[:MAX_MESSAGE - 30]}... ({len(message)} characters)")
        super().__init__(f"{self.path}: {self.message}" if self.path else self.message)

    def under(self, prefix: str = "", renames: Mapping[str, str] | None = None) -> "ConfigError":
        """The same error at its config path: the path's first key renamed by ``renames`` (a construct's
        property -> the config key that sets it; the key with its index, ``variants[champion]``, or without,
        ``inference_instance_types``), then placed under ``prefix``. The one way errors are re-pathed."""
        path = self.path
        segment = path.split(".", 1)[0]
        name = segment.split("[", 1)[0]
        for key in (segment, name):
            if renames and key in renames:
                path = renames[key] + path[len(key):]
                break
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
        return ConfigError(path, self.message)

    def in_file(self, file: object) -> "ConfigError":
        """The same error naming the config file it is in (``config/platform.yaml: models[0].name: ...``)."""
        return ConfigError(f"{file}: {self.path}" if self.path else str(file), self.message)


#: The longest given value an error line shows (a config value can be a whole pasted document).
MAX_SHOWN = 80


def cut(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text)} characters)"


def check_number(path: str, value: object) -> None:
    """Raise ``ConfigError`` unless ``value`` is a finite int or float (a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        shown = str(value).lower() if isinstance(value, bool) else cut(value)
        raise ConfigError(path, f"must be a finite number, got {shown}")


def check_range(path: str, value: float, low: float, high: float, unit: str = "") -> None:
    """Raise ``ConfigError`` unless ``value`` is a finite number with ``low <= value <= high``."""
    check_number(path, value)
    if not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise ConfigError(path, f"must be between {_fmt(low)} and {_fmt(high)}{suffix}, got {_fmt(value)}")


def check_whole(path: str, value: object, low: int, high: int | None = None, unit: str = "") -> None:
    """Raise ``ConfigError`` unless ``value`` is a whole number (not a bool, not 2.5) within ``low``-``high``
    (no upper bound when ``high`` is None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        shown = str(value).lower() if isinstance(value, bool) else cut(value)
        raise ConfigError(path, f"must be a whole number, got {shown}")
    if high is None:
        if value < low:
            raise ConfigError(path, f"must be at least {low}{' ' + unit if unit else ''}, got {value}")
        return
    check_range(path, value, low, high, unit)


@dataclass(frozen=True)
class Limit:
    """A numeric rule stated once: the construct's value object checks values with it (``check``) and the config
    file's JSON Schema shows it (``schema``), so the two cannot drift apart."""

    low: float
    high: float | None = None
    unit: str = ""
    whole: bool = False

    def check(self, path: str, value: object) -> None:
        if self.whole:
            check_whole(path, value, int(self.low), None if self.high is None else int(self.high), self.unit)
        elif self.high is not None:
            check_range(path, value, self.low, self.high, self.unit)
        else:
            check_number(path, value)
            if value < self.low:  # type: ignore[operator]
                raise ConfigError(path, f"must be at least {_fmt(self.low)}{' ' + self.unit if self.unit else ''}, "
                                  f"got {_fmt(value)}")  # type: ignore[arg-type]

    def schema(self) -> dict:
        """JSON Schema keywords for this rule (``json_schema_extra`` of a config field)."""
        return {"minimum": self.low} | ({} if self.high is None else {"maximum": self.high})


def check_choice(path: str, value: object, allowed: "list | tuple") -> None:
    """Raise ``ConfigError`` unless ``value`` is one of ``allowed``."""
    if isinstance(value, bool) or value not in allowed:
        shown = str(value).lower() if isinstance(value, bool) else cut(value)
        raise ConfigError(path, f"must be one of {', '.join(map(str, allowed))}, got {shown}")


def _fmt(number: float) -> str:
    if abs(number) >= 1e15:
        return f"{number:g}"  # 1e+308, not 309 digits
    return str(int(number)) if float(number).is_integer() else str(number)


