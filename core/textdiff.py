"""A line diff of two prompt texts: the one every report, the Slack bot and the editor show."""

from __future__ import annotations

import difflib


def prompt_diff(before: str, after: str, from_label: str = "before", to_label: str = "after", *,
                context: int = 3, changes_only: bool = False) -> list[str]:
    """``before`` against ``after`` as unified diff lines (no line ends): ``---``/``+++`` headers
    named by the labels, ``@@`` hunks with ``context`` unchanged lines around each change; no
    lines when the texts are the same. ``changes_only``: the ``-`` and ``+`` lines alone, without
    headers, hunk lines or context.

    Examples:
        >>> from core import prompt_diff
        >>> prompt_diff("Label it.\\nBe brief.", "Label it.\\nBe very brief.", "v1", "v2")
        ['--- v1', '+++ v2', '@@ -1,2 +1,2 @@', ' Label it.', '-Be brief.', '+Be very brief.']
        >>> prompt_diff("Label it.\\nBe brief.", "Label it.\\nBe very brief.", changes_only=True)
        ['-Be brief.', '+Be very brief.']
        >>> prompt_diff("same", "same")
        []
    """
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), from_label, to_label,
                                      lineterm="", n=0 if changes_only else context))
    if not changes_only:
        return lines
    # the two headers come first; every other line starts with its op, so a hunk line is "@@"
    return [ln for ln in lines[2:] if ln.startswith(("-", "+"))]
