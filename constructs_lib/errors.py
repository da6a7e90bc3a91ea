"""The library's single error type for bad input (``ConfigError``, defined with the numeric rules in
``ops/rules.py`` so that the ops code can use it without the rest of the library) and the checks of names,
account ids and e-mail addresses.
"""

from __future__ import annotations

from .ops.rules import (MAX_MESSAGE, MAX_PATH, MAX_SHOWN, ConfigError, Limit, check_choice, check_number,
                        check_range, check_whole, cut)

__all__ = ["MAX_MESSAGE", "MAX_PATH", "MAX_SHOWN", "ConfigError", "Limit", "check_account_ids", "check_choice",
           "check_email", "check_emails", "check_number", "check_range", "check_sagemaker_name", "check_whole",
           "cut"]


_SAGEMAKER_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"


def check_sagemaker_name(path: str, value: str, max_length: int = 63) -> None:
    """Raise ``ConfigError`` unless ``value`` is a valid SageMaker resource name (endpoints, variants, groups)."""
    import re

    if not isinstance(value, str) or len(value) > max_length or not re.fullmatch(_SAGEMAKER_NAME, value):
        raise ConfigError(
            path,
            f"must be 1-{max_length} characters of letters, digits and single or repeated hyphens, "
            f"starting and ending with a letter or digit ({_SAGEMAKER_NAME}), got {cut(value)}",
        )


def check_account_ids(path: str, accounts) -> list[str]:
    """Raise ``ConfigError`` unless ``accounts`` is a non-empty list of 12-digit account ids; returns it."""
    import re

    if isinstance(accounts, str) or not accounts:
        raise ConfigError(path, f"must be a non-empty list of 12-digit account ids, got {accounts!r}")
    for i, account in enumerate(accounts):
        if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
            raise ConfigError(f"{path}[{i}]", f"must be a 12-digit account id, got {account!r}")
    return list(accounts)


_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def check_emails(path: str, values: object) -> None:
    """Raise ``ConfigError`` unless ``values`` is a list of distinct e-mail addresses (case-insensitively: SNS
    would subscribe the same mailbox twice, and CDK refuses the second subscription with a stack trace)."""
    if not isinstance(values, (list, tuple)):
        raise ConfigError(path, f"must be a list of e-mail addresses, got {cut(values)}")
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        check_email(f"{path}[{i}]", value)
        first = seen.setdefault(value.lower(), i)
        if first != i:
            raise ConfigError(path, f"lists one address twice: {cut(values[first])} (entry {first}) and {cut(value)} "
                                    f"(entry {i}) are the same ignoring case")


def check_email(path: str, value: object) -> None:
    """Raise ``ConfigError`` unless ``value`` looks like an e-mail address (what SNS e-mail subscriptions take)."""
    import re

    if not isinstance(value, str) or not re.fullmatch(_EMAIL, value):
        raise ConfigError(path, f"must be an e-mail address, got {cut(value)}")
