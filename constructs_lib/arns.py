"""ARNs in a stack's partition, region and account, formatted in Python.

``Stack.format_arn`` and the stack's ``partition``, ``region`` and ``account`` each cost a jsii round trip
(~0.2 ms); a platform of 50 models formats thousands of ARNs. ``StackArns.of(scope)`` reads the three values
once per stack and formats the same strings ``format_arn`` returns (tokens included, so environment-agnostic
stacks work too).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from aws_cdk import Stack
from constructs import Construct

__all__ = ["StackArns"]

_CACHE: "weakref.WeakKeyDictionary[Stack, StackArns]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class StackArns:
    """A stack's ``partition``, ``region`` and ``account`` (concrete values or tokens) and its ARNs."""

    partition: str
    region: str
    account: str

    @classmethod
    def of(cls, scope: Construct) -> StackArns:
        """The values of ``scope``'s stack (read once per stack; a stack is its own)."""
        stack = scope if isinstance(scope, Stack) else Stack.of(scope)
        arns = _CACHE.get(stack)
        if arns is None:
            arns = _CACHE[stack] = cls(stack.partition, stack.region, stack.account)
        return arns

    @classmethod
    def remember(cls, stack: Stack, *, account: str, region: str) -> StackArns:
        """Record the account and region ``stack`` was given (concrete values, as ``stack.account`` and
        ``stack.region`` would return them), so that only its partition is read: for stacks built with an
        explicit environment."""
        arns = _CACHE[stack] = cls(stack.partition, region, account)
        return arns

    def arn(self, service: str, resource: str, resource_name: str | None = None, *, separator: str = "/",
            region: str | None = None, account: str | None = None) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource><separator><resource_name>`` (what
        ``Stack.format_arn`` returns; ``separator=":"`` is ``ArnFormat.COLON_RESOURCE_NAME``); ``region`` and
        ``account`` default to the stack's ("" for global services such as IAM and S3)."""
        region = self.region if region is None else region
        account = self.account if account is None else account
        tail = resource if resource_name is None else f"{resource}{separator}{resource_name}"
        return f"arn:{self.partition}:{service}:{region}:{account}:{tail}"
