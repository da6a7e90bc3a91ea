"""The rules of a drift check (``DriftMonitor``), in plain Python (no aws_cdk): the construct and the config
file check with the same ones."""

from __future__ import annotations

from .errors import ConfigError, Limit, check_choice
from .ops.drift import CAPTURE_LAG_MINUTES, QUALITY_METRICS

__all__ = ["LABEL_DELAY_HOURS", "MIN_LABELS", "MIN_RECORDS", "PERIODS", "QUALITY_METRICS", "QUALITY_THRESHOLD",
           "RETRAIN_INTERVAL_HOURS", "WINDOW_MINUTES", "check_monitoring", "check_quality"]

#: The window a run reads, in minutes (5 minutes to a day; the function has 15 minutes to read it).
WINDOW_MINUTES = Limit(5, 1440, "minutes", whole=True)
MIN_RECORDS = Limit(1, 50_000, "rows", whole=True)
PERIODS = Limit(1, 24, "runs", whole=True)
#: Hours between two retrainings on drift, at least (a drift alarm stays in ALARM until the data or the model
#: changes: without a bound, every re-evaluation would start another build).
RETRAIN_INTERVAL_HOURS = Limit(1, 720, "hours", whole=True)
#: A quality metric's limit (all of them are shares or areas, 0 to 1, higher is better: below it alarms;
#: check_quality refuses 0, which nothing is below).
QUALITY_THRESHOLD = Limit(0, 1)
#: How long after a request its label may arrive (the check judges the window this long before its own; up to
#: 30 days, within the captured data's retention).
LABEL_DELAY_HOURS = Limit(0, 720, "hours", whole=True)
MIN_LABELS = Limit(1, 50_000, "rows", whole=True)
#: How far back a CloudWatch alarm looks at most: 7 days (and one day with periods under an hour, which 24
#: windows of at most 59 minutes never exceed).
_LOOK_BACK_MINUTES = 7 * 24 * 60


def check_monitoring(window_minutes: int, min_records: int, evaluation_periods: int,
                     datapoints_to_alarm: int, window_path: str = "window") -> None:
    """A drift check's settings; errors name ``window_path`` for the window (``window_minutes`` in the config)."""
    WINDOW_MINUTES.check(window_path, window_minutes)
    MIN_RECORDS.check("min_records", min_records)
    PERIODS.check("evaluation_periods", evaluation_periods)
    PERIODS.check("datapoints_to_alarm", datapoints_to_alarm)
    if datapoints_to_alarm > evaluation_periods:
        raise ConfigError("datapoints_to_alarm", f"must be at most evaluation_periods ({evaluation_periods}), "
                          f"got {datapoints_to_alarm}")
    if window_minutes * evaluation_periods > _LOOK_BACK_MINUTES:
        raise ConfigError("evaluation_periods", f"must be at most {_LOOK_BACK_MINUTES // window_minutes} with a "
                          f"{window_minutes}-minute window (an alarm looks back at most 7 days), got "
                          f"{evaluation_periods}")


def check_quality(metric: str, threshold: float, label_delay_hours: int, min_labels: int, *, window_minutes: int,
                  retention_days: int | None) -> None:
    """A model-quality check's settings; ``retention_days``: how long the captured data is kept (None: a given
    bucket's own rules)."""
    check_choice("metric", metric, QUALITY_METRICS)
    QUALITY_THRESHOLD.check("threshold", threshold)
    if threshold == 0:
        raise ConfigError("threshold", "must be above 0 (no value is below 0: the alarm could never fire), got 0")
    LABEL_DELAY_HOURS.check("label_delay_hours", label_delay_hours)
    MIN_LABELS.check("min_labels", min_labels)
    back = label_delay_hours * 60 + window_minutes + CAPTURE_LAG_MINUTES
    if retention_days is not None and back > retention_days * 24 * 60:
        raise ConfigError("label_delay_hours", f"must leave the judged window ({label_delay_hours} hours back, plus "
                          f"the {window_minutes}-minute window and the check's {CAPTURE_LAG_MINUTES}-minute lag) "
                          f"within the captured data's {retention_days}-day retention (data_capture.retention_days), "
                          f"got {label_delay_hours}")
