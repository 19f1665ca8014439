"""The Jinja environment for untrusted prompt templates: Jinja's immutable sandbox, plus a
:class:`~core.template_limits.Budget` consulted wherever a template can spend time or memory.

- Nothing is evaluated at compile time: the optimizer is off, every operator is intercepted,
  and ``finalize`` and every filter take the context, so Jinja cannot fold constants such as
  ``{{ 10**10000000 }}`` or ``{{ 'x'|center(10**9) }}`` while compiling.
- The generated code counts a step for every ``{% for %}`` iteration (also of recursive loops),
  routes ``~`` and slices through the budget, and ``concat`` checks the length of a block's or
  the whole template's output before joining it.
- Operators, calls (macros, methods), filters and tests count a step and the time; their
  results are charged; arguments that say how much to build (widths, repeat counts, exponents,
  format strings) are checked before anything is built.
- Only side-effect-free ``str`` methods can be called; lists and dicts cannot be changed in
  place (Jinja's ``ImmutableSandboxedEnvironment``, and no attribute of a class such as ``dict``);
  ``lipsum`` is gone (it exists to make text).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any, cast

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from .template_limits import LIMITS, Budget, LimitExceeded, TemplateLimits, current, text_size

STR_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "expandtabs", "find", "index",
    "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
    "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
    "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
    "swapcase", "title", "upper", "zfill",
})
DROPPED_GLOBALS = ("lipsum",)
SLOW_FILTERS = frozenset({"wordwrap", "striptags", "urlize"})

Args = tuple[Any, ...]
Kwargs = dict[str, Any]


class GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with loops counted and ``~`` and slices sent to the budget.
    (Jinja allows no custom node types, so a loop's iterable is marked by identity.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.guard_iter(")
        result = super().visit(node, *args, **kwargs)
        self.write(")")
        return result

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guard_concat(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.guard_slice(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for i, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if i else "")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write("))")


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every ``{{ … }}``: its text is charged (measured before ``str`` builds it)."""
    budget = current()
    budget.charge(len(value) if isinstance(value, str) else text_size(value, budget.value_cap),
                  "an inserted value")
    return value


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = GuardedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, limits: TemplateLimits = LIMITS) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                         trim_blocks=True, lstrip_blocks=True, optimized=False, finalize=_finalize)
        self.limits = limits
        for name in DROPPED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = self.guard_range
        self.filters = {name: guard_filter(name, f) for name, f in self.filters.items()}
        self.tests = {name: guard_filter(name, cast(Callable[..., Any], f), is_test=True)
                      for name, f in self.tests.items()}

    # -- hooks the generated code calls ---------------------------------------------------------------
    def concat(self, parts: Iterable[str]) -> str:
        chunks = list(parts)
        current().size_ok(sum(map(len, chunks)), "a rendered text")
        return "".join(chunks)

    def guard_iter(self, iterable: Any) -> Any:
        return current().counted(iterable)

    def guard_concat(self, context: Context, parts: tuple[Any, ...]) -> str:
        budget = current()
        budget.tick()
        budget.size_ok(sum(text_size(p, budget.value_cap) for p in parts), "a ~ joined text")
        joined: str = markup_join(parts) if context.eval_ctx.autoescape else str_join(parts)
        budget.charge(len(joined))
        return joined

    def guard_slice(self, value: Any, key: slice) -> Any:
        budget = current()
        budget.tick()
        return budget.made_value(value[key])

    def guard_range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.items:
            raise LimitExceeded(f"asks for a range of {len(numbers):,} numbers; at most "
                                f"{self.limits.items:,}")
        return numbers

    # -- the sandbox's own hooks -----------------------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja's immutable sandbox, plus: of a str only the methods in STR_METHODS; nothing of
        a class (``dict.update(d, …)`` would change a dict in place)."""
        if isinstance(obj, type) or not super().is_safe_attribute(obj, attr, value):
            return False
        return not (isinstance(obj, str) and callable(value)) or attr in STR_METHODS

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.tick()
        _check_binop(budget, operator, left, right)
        return budget.made_value(self.binop_table[operator](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        budget.check_time()
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (budget.counted(args[0]), *args[1:])
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and isinstance(obj, types.BuiltinMethodType | types.MethodType):
            args = _check_str_method(budget, owner, obj.__name__, args)
        return budget.made_value(super().call(context, obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            budget = current()
            budget.tick()
            mapping = args[0] if is_map and len(args) == 1 and hasattr(args[0], "values") else {}
            budget.check_format(fmt, [*args, *kwargs.values(), *mapping.values()])
            text: str = budget.made_value(wrapped(*args, **kwargs))
            return text

        return checked


# -- operators and str methods --------------------------------------------------------------------------
def _check_binop(budget: Budget, op: str, left: Any, right: Any) -> None:
    if op in ("**", "*"):
        budget.check_int_op(op, left, right)
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                budget.size_ok(text_size(seq, budget.value_cap) * max(times, 0), "a repeated value")
    elif op == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        budget.size_ok(text_size(left, budget.value_cap) + text_size(right, budget.value_cap),
                       "a joined value")
    elif op == "%" and isinstance(left, str):
        budget.check_printf(left, right)


def _check_str_method(budget: Budget, text: str, name: str, args: Args) -> Args:
    """Checks before a str method that can build a long text; ``join`` gets its items counted."""
    if name == "join" and args:
        items = list(budget.counted(args[0]))
        size = sum(len(i) for i in items if isinstance(i, str)) + len(text) * max(len(items) - 1, 0)
        budget.size_ok(size, "a joined text")
        return (items, *args[1:])
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        budget.size_ok(_replaced_size(text, args[0], args[1], args[2] if len(args) > 2 else -1),
                       "a replaced text")
    elif name in ("center", "ljust", "rjust", "zfill") and args:
        budget.check_width(args[0], f"a {name} width")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        budget.size_ok(len(text) + text.count("\t") * size, "an expanded text")
    return args


def _replaced_size(text: str, old: str, new: str, count: Any) -> int:
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


# -- filters and tests ------------------------------------------------------------------------------------
# Checks of the filters whose arguments say how much to build, run before the filter; each returns
# the value to filter (``join`` gets its items counted first).
FilterCheck = Callable[[Budget, Any, Args, Kwargs], Any]


def _arg(args: Args, kwargs: Kwargs, index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _slow(name: str) -> FilterCheck:
    def check(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
        if text_size(value, budget.value_cap) > budget.limits.slow_chars:
            raise LimitExceeded(f"gives |{name} more than {budget.limits.slow_chars:,} characters")
        if name == "wordwrap":
            width = _arg(args, kwargs, 0, "width", 79)
            wrap = str(_arg(args, kwargs, 2, "wrapstring", None) or "\n")
            lines = len(str(value)) // max(width, 1) + 1 if isinstance(width, int) else 1
            budget.size_ok(len(str(value)) + lines * len(wrap), "a wrapped text")
        return value
    return check


def _center(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    budget.check_width(_arg(args, kwargs, 0, "width", 80), "a center width")
    return value


def _indent(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    width = _arg(args, kwargs, 0, "width", 4)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = str(value).count("\n") + 1
    budget.size_ok(text_size(value, budget.value_cap) + lines * per_line, "an indented text")
    return value


def _format(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    budget.check_printf(str(value), kwargs or args)
    return value


def _replace(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    if len(args) >= 2:
        count = _arg(args, kwargs, 2, "count", None)
        budget.size_ok(_replaced_size(str(value), str(args[0]), str(args[1]), count), "a replaced text")
    return value


def _join(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    items = list(budget.counted(value))
    glue = str(_arg(args, kwargs, 0, "d", ""))
    size = sum(text_size(i, budget.value_cap) for i in items) + len(glue) * max(len(items) - 1, 0)
    budget.size_ok(size, "a joined text")
    return items


def _count(name: str, param: str) -> FilterCheck:
    def check(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
        count = _arg(args, kwargs, 0, param, 1)
        if isinstance(count, int) and count > budget.limits.items:
            raise LimitExceeded(f"asks |{name} for {param} {count:,}; at most {budget.limits.items:,}")
        return value
    return check


def _sum(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    if not isinstance(_arg(args, kwargs, 1, "start", 0), int | float):
        raise LimitExceeded("gives |sum a start that is not a number (|sum adds numbers only)")
    return value


def _round(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    precision = _arg(args, kwargs, 0, "precision", 0)
    if isinstance(precision, int):
        budget.check_width(abs(precision), "a round precision")
    return value


def _tojson(budget: Budget, value: Any, args: Args, kwargs: Kwargs) -> Any:
    indent = _arg(args, kwargs, 0, "indent", None)
    if isinstance(indent, int) and indent > 16:
        raise LimitExceeded(f"asks |tojson for an indent of {indent:,}; at most 16")
    return value


FILTER_CHECKS: dict[str, FilterCheck] = {
    **{name: _slow(name) for name in SLOW_FILTERS},
    "center": _center, "indent": _indent, "format": _format, "replace": _replace,
    "join": _join, "batch": _count("batch", "linecount"), "slice": _count("slice", "slices"),
    "sum": _sum, "round": _round, "tojson": _tojson,
}


def guard_filter(name: str, func: Callable[..., Any], *, is_test: bool = False) -> Callable[..., Any]:
    """``func`` with a step, the size of what it is given, its own checks, and its result charged.
    The wrapper takes the context, which also keeps Jinja from running it at compile time."""
    pass_arg = _PassArg.from_obj(func)
    check = None if is_test else FILTER_CHECKS.get(name)

    def guarded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        if is_test:
            return _call(func, pass_arg, context, value, args, kwargs)
        if not isinstance(value, str):
            budget.size_ok(text_size(value, budget.value_cap), f"a value for |{name}")
        for given in (*args, *kwargs.values()) if args or kwargs else ():
            if not isinstance(given, str | int | float):
                budget.size_ok(text_size(given, budget.value_cap), f"a value for |{name}")
        if check is not None:
            value = check(budget, value, args, kwargs)
        return budget.made_value(_call(func, pass_arg, context, value, args, kwargs))

    guarded.__name__ = guarded.__qualname__ = f"guarded_{name}"
    guarded.__doc__ = func.__doc__
    return pass_context(guarded)


def _call(func: Callable[..., Any], pass_arg: _PassArg | None, context: Context, value: Any,
          args: Args, kwargs: Kwargs) -> Any:
    if pass_arg is None:
        return func(value, *args, **kwargs)
    if pass_arg is _PassArg.context:
        return func(context, value, *args, **kwargs)
    if pass_arg is _PassArg.eval_context:
        return func(context.eval_ctx, value, *args, **kwargs)
    return func(context.environment, value, *args, **kwargs)
