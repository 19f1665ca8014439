#!/usr/bin/env python3
"""Print the body of one version's section of CHANGELOG.md: the release notes of that version.

    python .github/scripts/changelog_section.py 0.2.0 [CHANGELOG.md]

A section starts at its `## [0.2.0]` heading and ends at the next `## ` heading. A version with no
section, or an empty one, is one line on stderr and exit 2: a release needs its notes."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def section(changelog: str, version: str) -> str | None:
    """The lines under `## [version]` up to the next second-level heading, stripped; None if absent."""
    heading = re.compile(rf"^## \[{re.escape(version)}\](\s|$)")
    lines = changelog.splitlines()
    starts = [i for i, line in enumerate(lines) if heading.match(line)]
    if not starts:
        return None
    body = []
    for line in lines[starts[0] + 1:]:
        if line.startswith("## "):
            break
        body.append(line)
    return "\n".join(body).strip()


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: changelog_section.py VERSION [CHANGELOG.md]", file=sys.stderr)
        return 2
    version = argv[0].removeprefix("v")
    path = Path(argv[1] if len(argv) == 2 else "CHANGELOG.md")
    notes = section(path.read_text(encoding="utf-8"), version)
    if not notes:
        print(f"{path}: no section `## [{version}]` with notes in it", file=sys.stderr)
        return 2
    print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
