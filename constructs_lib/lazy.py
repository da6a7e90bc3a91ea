"""``lazy_string``: a string produced at synthesis (a ``Lazy`` value) by a Python function."""

from __future__ import annotations

from typing import Callable

import jsii
from aws_cdk import IStableStringProducer, Lazy

__all__ = ["lazy_string"]


@jsii.implements(IStableStringProducer)
class _Produce:
    def __init__(self, function: Callable[[], str]) -> None:
        self._function = function

    def produce(self) -> str:
        return self._function()


def lazy_string(function: Callable[[], str]) -> str:
    """A token that resolves to ``function()`` when the template is written (after every construct is added)."""
    return Lazy.string(_Produce(function))
