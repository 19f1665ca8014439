"""Small builders for inline SVG charts: escaped elements, linear scales, nice ticks, axes.

Everything returns ``markupsafe.Markup``: text and attribute values are escaped here, so a prompt
or a candidate note shown in a tooltip can never break out of the SVG. Colours and fonts come from
CSS classes that the HTML report's stylesheet defines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup, escape

Child = Markup | str


def _num(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def el(tag: str, *children: Child, **attrs: str | float | int | None) -> Markup:
    """``<tag a="…">children</tag>``; a ``class_`` keyword becomes ``class``, ``data_x`` becomes
    ``data-x``; ``None`` values are left out; plain-string children are escaped."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = _num(value) if isinstance(value, float) else str(value)
        parts.append(f'{name}="{escape(shown)}"')
    head = " ".join(parts)
    if not children:
        return Markup(f"<{head}/>")
    return Markup(f"<{head}>{''.join(escape(c) for c in children)}</{tag}>")


def title(text: str) -> Markup:
    """A tooltip: the ``<title>`` child a browser shows on hover."""
    return el("title", text)


def points(xy: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in xy)


@dataclass(frozen=True)
class Scale:
    """Linear map from a domain ``[d0, d1]`` to a range ``[r0, r1]`` (pixels)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, v: float) -> float:
        span = self.d1 - self.d0
        t = 0.5 if span == 0 else (v - self.d0) / span
        return self.r0 + t * (self.r1 - self.r0)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) covering ``[lo, hi]``."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def fit(text: str, width: float, char_px: float = 6.2) -> str:
    """``text`` cut with an ellipsis to about ``width`` pixels of 11px type."""
    room = max(3, int(width / char_px))
    return text if len(text) <= room else text[: room - 1] + "…"


def short_label(label: str) -> str:
    """``round 12`` → ``r12``, ``baseline`` → ``base``, ``held-out…`` → ``test``: for crowded axes."""
    if label.startswith("round "):
        return "r" + label[6:]
    return {"baseline": "base", "held-out": "test", "held-out check": "test",
            "confirmation": "conf"}.get(label, label)


def pct(v: float) -> str:
    return f"{v:.0%}"


def compact(v: float) -> str:
    """1234 → 1.2k, 2500000 → 2.5M."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:g}" if v == int(v) else f"{v:.1f}"


@dataclass(frozen=True)
class Frame:
    """The plotting area of a chart: its size and margins (pixels)."""

    width: float
    height: float
    left: float = 48
    right: float = 16
    top: float = 16
    bottom: float = 36

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top


def y_grid(frame: Frame, y: Scale, ticks: list[float], fmt: str = "pct",
           label: str = "") -> Markup:
    """Horizontal grid lines with their values at the left, and an axis title."""
    out = []
    for t in ticks:
        py = y(t)
        out.append(el("line", x1=frame.x0, x2=frame.x1, y1=py, y2=py, class_="grid"))
        out.append(el("text", pct(t) if fmt == "pct" else compact(t), x=frame.x0 - 6, y=py + 4,
                      class_="tick", text_anchor="end"))
    if label:
        cy = (frame.y0 + frame.y1) / 2
        out.append(el("text", label, x=12, y=cy, class_="axis-title", text_anchor="middle",
                      transform=f"rotate(-90 12 {_num(cy)})"))
    return Markup("").join(out)


def x_axis(frame: Frame, labels: Iterable[tuple[float, str]], title_text: str = "") -> Markup:
    """The baseline, tick labels under it, and an axis title."""
    out = [el("line", x1=frame.x0, x2=frame.x1, y1=frame.y0, y2=frame.y0, class_="axis")]
    labels = list(labels)
    room = (frame.x1 - frame.x0) / max(1, len(labels)) - 4
    for px, text in labels:
        out.append(el("text", fit(text, room), title(text) if len(fit(text, room)) < len(text)
                      else "", x=px, y=frame.y0 + 16, class_="tick", text_anchor="middle"))
    if title_text:
        out.append(el("text", title_text, x=(frame.x0 + frame.x1) / 2, y=frame.height - 4,
                      class_="axis-title", text_anchor="middle"))
    return Markup("").join(out)


def legend(x: float, y: float, items: list[tuple[str, str]]) -> Markup:
    """Swatches and their names in a row, right-aligned at ``x``."""
    out, cx = [], x
    for cls, text in reversed(items):
        width = 7.0 * len(text) + 22
        cx -= width
        out.append(el("circle", cx=cx + 6, cy=y - 4, r=5, class_=f"swatch {cls}"))
        out.append(el("text", text, x=cx + 15, y=y, class_="legend"))
    return Markup("").join(out)


def zebra(width: float, ys: list[float], row: float) -> Markup:
    """Shading behind every other row of a chart drawn in rows."""
    return Markup("").join(el("rect", x=4, y=y - row / 2, width=width - 8, height=row,
                              class_="zebra") for y in ys[::2])


def svg(name: str, width: float, height: float, label: str, *body: Child,
        fixed: bool = False) -> Markup:
    """The chart's root element, ``data-chart=name``. ``fixed``: drawn at its own pixel size
    (the page scrolls it) instead of scaled to the card's width."""
    size = {"width": width, "height": height} if fixed else {"width": "100%"}
    return el("svg", el("title", label), *body, xmlns="http://www.w3.org/2000/svg",
              viewBox=f"0 0 {_num(width)} {_num(height)}", class_="chart", data_chart=name,
              role="img", aria_label=label, **size)


def empty(name: str, width: float, height: float, label: str, message: str) -> Markup:
    """A chart with nothing to plot says so in its place."""
    return svg(name, width, height, label,
               el("rect", x=1, y=1, width=width - 2, height=height - 2, rx=8, class_="empty-box"),
               el("text", message, x=width / 2, y=height / 2 + 4, class_="empty-text",
                  text_anchor="middle"))
