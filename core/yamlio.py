"""YAML for task files, prompt files and configs: YAML 1.2 core-schema scalars, with limits.

PyYAML follows YAML 1.1, which turns text into other things behind the user's back:
``expected: yes`` becomes ``True``, ``1:30`` becomes 90 (base 60), ``0755`` becomes 493
(octal), ``2024-01-02`` becomes a date, ``=`` fails to load. Here plain scalars resolve as in
YAML 1.2's core schema, made stricter where a number would not print back as written:

- ``true``/``false`` (any case form of those two words) are booleans; ``yes``, ``no``, ``on``,
  ``off`` stay text;
- ``null``, ``~`` or nothing is null;
- an integer is an ``int`` only when written canonically (``42``, ``-7``): ``0755``, ``+5``,
  ``1_000``, ``0x1F`` and ``1:30`` stay text, because ``expected: 0755`` means the text "0755";
- a float needs a point or an exponent (``1.5``, ``.5``, ``1e3``, ``.inf``) and prints as
  written (see :mod:`core.scalars`);
- everything else, dates included, is text.

Files are untrusted, so loading is bounded: at most :data:`MAX_YAML_CHARS` of text,
:data:`MAX_DEPTH` levels of nesting and :data:`MAX_VALUES` values with every alias expanded (an
814-byte "billion laughs" expands to hundreds of millions; it is refused in milliseconds). Every
failure is a ``yaml.YAMLError``; a broken limit is a :class:`YamlLimitError` with a hint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import Mark
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from .jsonio import MAX_DEPTH
from .scalars import INT_PATTERN, float_or_text

MAX_YAML_CHARS = 8 << 20  # 8 MiB: a task file is settings and a few examples; data goes in files
MAX_VALUES = 1_000_000  # scalars and collections in a document, aliases expanded

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_FLOAT = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
                    r"|[0-9]+[eE][-+]?[0-9]+)$")
_SPECIAL = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_TAG = "tag:yaml.org,2002:"


class YamlLimitError(yaml.MarkedYAMLError):
    """The document breaks a size, depth or alias limit; ``problem`` says which, ``hint`` how to
    fix it."""

    def __init__(self, problem: str, mark: Mark | None, hint: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


def _too_deep(mark: Mark | None, through_aliases: bool = False) -> YamlLimitError:
    how = " (through aliases)" if through_aliases else ""
    return YamlLimitError(f"nested more than {MAX_DEPTH} levels deep{how}", mark,
                          "flatten the structure")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that recurses, or that holds too many values or levels once every
    alias is expanded. Linear in the distinct nodes (aliases share the anchored node)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            entered.discard(key)
            if size[key] > MAX_VALUES:
                raise YamlLimitError(f"more than {MAX_VALUES:,} values once aliases are expanded",
                                     node.start_mark, "use fewer aliases (*name) to big anchors")
            if depth[key] > MAX_DEPTH + 1:  # a scalar is a level here, not in the JSON count
                raise _too_deep(node.start_mark, through_aliases=True)
            continue
        if key in size:
            continue
        if key in entered:
            raise YamlLimitError("an alias refers to a value that contains it", node.start_mark,
                                 "remove the recursive alias")
        entered.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node))


class _Limited(Composer):
    """The composer (events -> nodes) with the depth limit, and the alias check after it."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise _too_deep(cast(Any, self).peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            check_expansion(node)
        return node


class _Resolver(Resolver):
    """YAML 1.2 core-schema implicit types, stricter for integers (see the module's docstring)."""


_Resolver.yaml_implicit_resolvers = {}
for _tag, _rx, _first in (
    ("bool", _BOOL, list("tTfF")),
    ("null", _NULL, ["~", "n", "N", ""]),
    ("int", INT_PATTERN, list("-0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
    ("float", _SPECIAL, list("-+.")),
    ("merge", re.compile(r"^<<$"), ["<"]),
):
    _Resolver.add_implicit_resolver(_TAG + _tag, _rx, _first)


def _construct_int(loader: SafeConstructor, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if not INT_PATTERN.match(text):
        raise ConstructorError(None, None, f"'{text[:40]}' is not an integer written plainly "
                               "(no sign, leading zero, '_' or base prefix)", node.start_mark)
    return int(text)


def _construct_float(loader: SafeConstructor, node: yaml.ScalarNode) -> float | str:
    text = str(loader.construct_scalar(node))
    if _SPECIAL.match(text):
        return float(text.lower().replace(".", ""))  # "-.Inf" -> float("-inf")
    if not _FLOAT.match(text):
        raise ConstructorError(None, None, f"'{text[:40]}' is not a number", node.start_mark)
    return float_or_text(text, float(text))


class _Constructor(SafeConstructor):
    """Safe types only (plain data); ``!!int``/``!!float`` accept what the resolver would."""

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **SafeConstructor.yaml_constructors, _TAG + "int": _construct_int, _TAG + "float": _construct_float}


class _Loader(Reader, Scanner, Parser, _Limited, _Constructor, _Resolver):
    """Pure Python: scanning, parsing, composing and constructing."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Limited.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


_CParser: Any
try:  # libyaml, when PyYAML was built with it
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover
    _CParser = None

if _CParser is not None:

    class _FastLoader(_Limited, _CParser, _Constructor, _Resolver):  # type: ignore[misc]
        """libyaml scans and parses (about 5 times faster); composing stays in Python, with the
        limits."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Limited.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

    _LOADER: type = _FastLoader
else:  # pragma: no cover - PyYAML without libyaml
    _LOADER = _Loader


def _check_size(text: str) -> None:
    if len(text) > MAX_YAML_CHARS:
        raise YamlLimitError(f"the document is larger than {MAX_YAML_CHARS >> 20} MiB", None,
                             "put large example sets in a data file (dataset: {file: ...})")


def _run(text: str, compose: bool) -> Any:
    for loader_class in (_LOADER, _Loader):
        try:
            loader: Any = loader_class(text)
        except UnicodeEncodeError:  # libyaml takes UTF-8; the Python reader names the character
            continue
        try:
            return loader.get_single_node() if compose else loader.get_single_data()
        finally:
            loader.dispose()
    raise ConstructorError(None, None, "the text cannot be encoded as UTF-8")


def load_yaml(text: str) -> Any:
    """One YAML document, as plain Python data; raises only ``yaml.YAMLError``.

    YAML 1.2 scalars: ``no`` and ``on`` stay text, only ``true``/``false`` are booleans.

    Examples:
        >>> from core import load_yaml
        >>> load_yaml("labels: [yes, no]\\nstrict: true\\nweight: 0.5")
        {'labels': ['yes', 'no'], 'strict': True, 'weight': 0.5}
    """
    _check_size(text)
    try:
        return _run(text, compose=False)  # safe: _Constructor builds plain data only
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        # an explicit tag with a value its constructor cannot take (``!!timestamp soon``)
        raise ConstructorError(None, None, f"cannot read a value: {str(exc)[:80]}") from None


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree of one document (positions of values, for editors), within the same limits
    as :func:`load_yaml`; raises only ``yaml.YAMLError``.

    Examples:
        >>> from core import compose_yaml
        >>> root = compose_yaml("name: demo\\nprompt: Say hi")
        >>> [(key.value, value.start_mark.line + 1) for key, value in root.value]
        [('name', 1), ('prompt', 2)]
    """
    _check_size(text)
    node: yaml.Node | None = _run(text, compose=True)
    return node


def yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[int | None, str, str]:
    """(line, problem, hint) of a ``load_yaml`` failure, for a one-line message naming the line.

    Examples:
        >>> import yaml
        >>> from core import load_yaml, yaml_problem
        >>> text = "name: demo\\n  prompt: Say hi\\nmetric: label"
        >>> try:
        ...     load_yaml(text)
        ... except yaml.YAMLError as exc:
        ...     print(yaml_problem(exc, text))
        (2, 'not valid YAML: mapping values are not allowed in this context', 'fix the syntax')
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line: int | None = mark.line + 1 if mark is not None else None
    if isinstance(exc, YamlLimitError):
        return line, str(exc.problem), exc.hint
    if isinstance(exc, yaml.reader.ReaderError):  # a control character, or not text at all
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else 0
        return line, f"not valid YAML: character U+{char:04X} is not allowed", \
            "remove it, or write it as an escape in a double-quoted string"
    problem = str(getattr(exc, "problem", None) or "syntax error")
    if "maximum nesting depth" in problem:  # libyaml's own limit (1,000), met while scanning ahead
        return line, _too_deep(None).problem or "", "flatten the structure"
    return line, "not valid YAML: " + " ".join(problem.split())[:120], "fix the syntax"


def line_of(text: str, path: Sequence[str | int]) -> int | None:
    """The line (1-based) of the value at ``path`` (keys and indexes, e.g. a pydantic error's
    ``loc``) in a YAML or JSON document; parts that name no key or index are skipped (a union's
    member name). None when the text does not parse."""
    try:
        node = compose_yaml(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    mark = node.start_mark
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                        None)
            if pair is not None:
                mark, node = pair[0].start_mark, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
    return int(mark.line) + 1
