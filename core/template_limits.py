"""How much work an untrusted prompt template may do, and the per-render account that enforces it.

Prompt templates come from Slack members, task files, the editor and the optimizer model, so a
template may try to run forever or fill the memory (``{{ 10**10000000 }}``, nested ``range``
loops, ``'x' * 10**9``). ``core.template_sandbox`` calls into a :class:`Budget` at every point
where a template can spend time or memory: each loop step, call, filter, operator, slice and
output. Sizes are checked *before* anything big is built (from the operands' sizes, see
:func:`text_size`), time between those steps, so a render stops within about its time limit,
and what it builds in all stays a few times the size of its inputs.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter
from typing import Any

from jinja2.utils import Namespace


@dataclass(frozen=True)
class TemplateLimits:
    """Limits for one compile and one render of a prompt template."""

    source_chars: int = 1_000_000   # a prompt template's length
    compile_tokens: int = 10_000    # Jinja tokens in it (compiling costs ~20 µs a token)
    render_seconds: float = 0.2     # wall-clock time of one render
    steps: int = 1_000_000          # loop iterations, calls, filters and operators in one render
    made_chars: int = 200_000       # the longest text a render may build, plus input_factor times
    input_factor: int = 4           # the length of its inputs and source
    made_factor: int = 8            # all text built in one render: this many times that length
    int_bits: int = 65_536          # the largest integer (about 19,700 digits)
    width: int = 10_000             # a field width or precision in %-format / str.format
    slow_chars: int = 20_000        # the input of the superlinear filters (wordwrap, striptags, urlize)
    items: int = 100_000            # a range(), |batch line count, |slice count


LIMITS = TemplateLimits()


class LimitExceeded(Exception):
    """A prompt template went over one of its limits."""


def text_size(value: Any, limit: int) -> int:
    """About ``len(str(value))``, found without building the text; a repeated reference counts
    each time, as ``str`` would print it. Counting stops once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        else:
            total += 64
        if total > limit:
            return total
    return total


class Budget:
    """What one render has left: time, steps, and the text it may still build."""

    __slots__ = ("deadline", "limits", "made", "steps", "total_cap", "value_cap")

    def __init__(self, limits: TemplateLimits, allowance: int, *, timed: bool = True) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.render_seconds if timed else math.inf
        self.steps = limits.steps if timed else 1 << 62
        self.value_cap = limits.made_chars + limits.input_factor * allowance
        self.total_cap: float = self.value_cap * limits.made_factor if timed else math.inf
        self.made = 0

    def tick(self) -> None:
        self.steps -= 1
        if not self.steps & 63:
            if self.steps < 0:
                raise LimitExceeded(f"runs more than {self.limits.steps:,} loop steps, calls and "
                                    "filters")
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"takes longer than {self.limits.render_seconds:g} s to render")

    def size_ok(self, size: int, what: str) -> None:
        if size > self.value_cap:
            raise LimitExceeded(f"makes {what} of about {size:,} characters, over the limit of "
                                f"{self.value_cap:,}")

    def charge(self, size: int, what: str = "a value") -> None:
        """Account for text the render has built (the clock is read after a long one; loop
        steps read it anyway)."""
        self.size_ok(size, what)
        self.made += size
        if self.made > self.total_cap:
            raise LimitExceeded(f"builds more than {int(self.total_cap):,} characters of text in all")
        if size > 4096:
            self.check_time()

    def made_value(self, value: Any) -> Any:
        """A value an operation returned: text and containers are charged, a lazy sequence
        counts a step for each item it yields, a number must stay under the size limit."""
        if isinstance(value, str):
            self.charge(len(value))
        elif isinstance(value, list | tuple | dict | set | frozenset):
            self.charge(text_size(value, self.value_cap))
        elif isinstance(value, Iterator):
            return self.counted(value)
        elif isinstance(value, int) and value.bit_length() > self.limits.int_bits:
            raise LimitExceeded(f"makes a number over {self.limits.int_bits:,} bits long")
        return value

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.tick()
            yield item

    def check_int_op(self, op: str, left: Any, right: Any) -> None:
        """``**`` and ``*`` of integers: refused when the result would be too long."""
        if not (isinstance(left, int) and isinstance(right, int)):
            return
        if op == "**":
            bits = right * abs(left).bit_length() if right > 0 and abs(left) > 1 else 0
        else:
            bits = abs(left).bit_length() + abs(right).bit_length()
        if bits > self.limits.int_bits:
            raise LimitExceeded(f"makes a number over {self.limits.int_bits:,} bits long "
                                f"({_short(left)} {op} {_short(right)})")

    def check_width(self, width: Any, what: str) -> None:
        if isinstance(width, int) and width > self.limits.width:
            raise LimitExceeded(f"asks for {what} of {width:,}; the limit is {self.limits.width:,}")

    def check_printf(self, fmt: str, args: Any) -> None:
        """``fmt % args``: no ``*`` widths, widths under the limit, the result under the size limit."""
        conversions, widest = 0, 0
        for match in _PRINTF.finditer(fmt):
            if match.group(4) == "%":
                continue
            conversions += 1
            for part in (match.group(2), match.group(3)):
                if part == "*":
                    raise LimitExceeded("uses a * width in %-formatting")
                if part:
                    self.check_width(int(part), "a %-format width")
                    widest = max(widest, int(part))
        items = args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else [args]
        longest = max((text_size(a, self.value_cap) for a in items), default=0)
        self.size_ok(len(fmt) + conversions * (longest + widest), "a %-formatted text")

    def check_format(self, fmt: str, args: Iterable[Any]) -> None:
        """``fmt.format(*args)``: no nested fields in a spec, widths under the limit, the result
        under the size limit."""
        fields, widest = 0, 0
        for _literal, name, spec, _conversion in Formatter().parse(fmt):
            if name is None:
                continue
            fields += 1
            if spec and "{" in spec:
                raise LimitExceeded("uses a {…} inside a format spec")
            for digits in re.findall(r"\d+", spec or ""):
                self.check_width(int(digits), "a format width")
                widest = max(widest, int(digits))
        longest = max((text_size(a, self.value_cap) for a in args), default=0)
        self.size_ok(len(fmt) + fields * (longest + widest), "a formatted text")


_PRINTF = re.compile(r"%(\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 64 else "a long number"
    return text if len(text) <= 30 else text[:27] + "..."


_STATIC = Budget(LIMITS, 0, timed=False)
_ACTIVE: ContextVar[Budget | None] = ContextVar("prompt_template_budget", default=None)


def current() -> Budget:
    """The budget of the render going on in this thread/task; outside a render, one with the
    default size limits and no clock."""
    budget = _ACTIVE.get()
    return _STATIC if budget is None else budget


def start(budget: Budget) -> Any:
    """Make ``budget`` the current one; give the returned token to :func:`stop`."""
    return _ACTIVE.set(budget)


def stop(token: Any) -> None:
    _ACTIVE.reset(token)


def allowance(source: str, values: Mapping[str, Any]) -> int:
    """The length of a render's source and inputs, which raises what it may build (a structured
    input is measured up to a few million characters, so measuring stays cheap)."""
    size = len(source)
    for value in values.values():
        size += len(value) if isinstance(value, str) else text_size(value, 1 << 22)
    return size
