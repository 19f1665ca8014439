"""The candidate map of the HTML report, as inline SVG: every scored candidate placed by the
meaning of its instruction (``core.clusters``), coloured by dev score on a sequential scale,
near-duplicate clusters outlined and named, the original and the winner ringed. A sentence under
the chart says the same for people who do not see it.

Data points carry the class ``pt`` and a ``<title>`` tooltip, as in ``charts.py``. Colours that
depend on the data are presentation attributes; CSS classes of the report still apply on top.
"""

from __future__ import annotations

import math

import numpy as np
from markupsafe import Markup

from ..clusters import CandidateMap, MapPoint
from .svg import Frame, Scale, el, empty, fit, pct, points, svg, title

W, H = 560.0, 340.0
PAD = 13.0        # a cluster's outline runs this far outside its members' centres
R = 6.0           # point radius
GAP = 2 * R + 3   # the closest two points' centres may be, after spreading
# viridis from 0 to 0.9 (its palest yellow is lost on white): perceptually even, colour-blind safe
STOPS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#bddf26")
OUTLINE, TINT = "#cbd5e1", "#f1f5f9"
WINNER, ORIGINAL = "#059669", "#475569"
NAME, LABEL = "clusters", "Candidates placed by meaning, coloured by dev score"


def colour(t: float) -> str:
    """The sequential scale's colour at ``t`` in [0, 1] (clipped)."""
    t = min(1.0, max(0.0, t)) * (len(STOPS) - 1)
    i = min(int(t), len(STOPS) - 2)
    a, b = (tuple(int(s[k:k + 2], 16) for k in (1, 3, 5)) for s in STOPS[i:i + 2])
    f = t - i
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def hull(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull, counter-clockwise (Andrew's monotone chain); fewer points as they are."""
    ps = sorted(set(pts))
    if len(ps) < 3:
        return ps

    def turn(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for chain, seq in ((lower, ps), (upper, list(reversed(ps)))):
        for p in seq:
            while len(chain) >= 2 and turn(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
    return lower[:-1] + upper[:-1]


def spread(xy: list[tuple[float, float]], box: tuple[float, float, float, float],
           gap: float = GAP, rounds: int = 80) -> list[tuple[float, float]]:
    """Points pushed apart until no two centres are closer than ``gap`` (or ``rounds`` is
    spent), kept inside ``box`` = (x0, x1, y0, y1): near-duplicates sit on one spot of the map
    and would hide each other. Deterministic: coincident points part along a fixed angle."""
    p = np.array(xy, dtype=np.float64).reshape(-1, 2)
    n = len(p)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    turn = math.pi * (3 - math.sqrt(5))  # the golden angle: coincident pairs part all ways
    fixed = np.stack([np.cos(turn * (i + j)), np.sin(turn * (i + j))], axis=-1)
    fixed *= np.sign(i - j)[..., None]
    for _ in range(rounds):
        d = p[:, None, :] - p[None, :, :]
        dist = np.hypot(d[..., 0], d[..., 1])
        np.fill_diagonal(dist, np.inf)
        push = np.clip(gap - dist, 0.0, None)
        if not push.any():
            break
        unit = np.where((dist > 1e-9)[..., None], d / np.maximum(dist, 1e-9)[..., None], fixed)
        p += (unit * push[..., None] / 2).sum(axis=1)
        p[:, 0] = np.clip(p[:, 0], box[0], box[1])
        p[:, 1] = np.clip(p[:, 1], box[2], box[3])
    return [(float(a), float(b)) for a, b in p]


def _blob(shape: list[tuple[float, float]], fill: str, pad: float) -> Markup:
    """A hull grown by ``pad`` on every side: the polygon drawn with a round stroke 2·pad wide."""
    common: dict[str, str | float] = {"fill": fill, "stroke": fill, "stroke_width": 2 * pad,
                                      "stroke_linejoin": "round", "stroke_linecap": "round"}
    if len(shape) == 1:
        return el("circle", cx=shape[0][0], cy=shape[0][1], r=pad, fill=fill)
    return el("polygon", points=points(shape), class_="cluster", **common)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 of a label


def _free(box: Box, taken: list[Box]) -> bool:
    return all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1]
               for t in taken)


def _label_box(at: tuple[float, float], half: float) -> Box:
    return (at[0] - half, at[1] - 10, at[0] + half, at[1] + 2)


def _clusters(cmap: CandidateMap, at: dict[str, tuple[float, float]], f: Frame,
              taken: list[Box]) -> Markup:
    """Each cluster of two or more outlined, and named above it (below, when another name is
    in the way)."""
    outer, inner, labels = [], [], []
    for cid in sorted({p.cluster for p in cmap.points}):
        ms = cmap.members(cid)
        if len(ms) < 2:
            continue
        shape = hull([at[p.id] for p in ms])
        outer.append(_blob(shape, OUTLINE, PAD + 1.5))
        inner.append(_blob(shape, TINT, PAD))
        text = f"cluster {cid + 1} ({len(ms)})"
        half = 3.0 * len(text)
        cx = min(max(sum(x for x, _ in shape) / len(shape), f.x0 + half + 2), f.x1 - half - 2)
        above = max(min(y for _, y in shape) - PAD - 5, f.y1 + 10)
        below = min(max(y for _, y in shape) + PAD + 12, f.y0 - 3)
        left = min(x for x, _ in shape) - PAD - 4 - half
        right = max(x for x, _ in shape) + PAD + 4 + half
        mid = sum(y for _, y in shape) / len(shape) + 4
        spots = [(cx, above), (cx, below), (left, mid), (right, mid)]
        spots = [(sx, sy) for sx, sy in spots if f.x0 + half <= sx <= f.x1 - half] or spots[:1]
        sx, sy = next((s for s in spots if _free(_label_box(s, half), taken)), spots[0])
        taken.append(_label_box((sx, sy), half))
        labels.append(el("text", text, x=sx, y=sy, class_="cluster-label muted small",
                         text_anchor="middle"))
    return Markup("").join(outer + inner + labels)


def _tip(cmap: CandidateMap, p: MapPoint) -> str:
    n = len(cmap.members(p.cluster))
    where = f"cluster {p.cluster + 1} ({n} prompts)" if n > 1 else "no near-duplicate"
    role = " · winner" if p.is_winner else ""
    role += " · original" if p.is_original else ""
    return f"{p.id}{role} · {where}\ndev {pct(p.score)}\n{p.label}"


def _point(cmap: CandidateMap, p: MapPoint, xy: tuple[float, float], t: float) -> Markup:
    out = [el("circle", title(_tip(cmap, p)), cx=xy[0], cy=xy[1], r=R, fill=colour(t),
              class_="pt map", data_id=p.id, data_cluster=p.cluster)]
    if p.is_original:
        out.append(el("circle", cx=xy[0], cy=xy[1], r=R + 3.5, fill="none", stroke=ORIGINAL,
                      stroke_width=1.5, stroke_dasharray="2.5 2", class_="ring original-ring"))
    if p.is_winner:
        out.append(el("circle", cx=xy[0], cy=xy[1], r=R + (6.5 if p.is_original else 3.5),
                      fill="none", stroke=WINNER, stroke_width=2, class_="ring winner-ring"))
    return Markup("").join(out)


def _tag(p: MapPoint, xy: tuple[float, float], f: Frame) -> Markup:
    mark = ("★" if p.is_winner else "") + ("◆" if p.is_original else "")
    left = xy[0] > f.x1 - 80
    return el("text", f"{mark} {p.id[:6]}", x=xy[0] - 12 if left else xy[0] + 12, y=xy[1] + 4,
              class_="point-label", text_anchor="end" if left else None)


def _taken(cmap: CandidateMap, at: dict[str, tuple[float, float]], f: Frame) -> list[Box]:
    """Where points and the winner's and original's tags are, for cluster names to avoid."""
    out = [(px - R, py - R, px + R, py + R) for px, py in at.values()]
    for p in cmap.points:
        if p.is_winner or p.is_original:
            px, py = at[p.id]
            x0 = px - 66 if px > f.x1 - 80 else px + 10
            out.append((x0, py - 8, x0 + 56, py + 5))
    return out


def _legend(f: Frame, lo: float, hi: float) -> Markup:
    y = 18.0
    out = [el("text", "dev score", x=f.x0, y=y, class_="legend")]
    x = f.x0 + 92  # "dev score" and room for "100%"
    if hi - lo > 1e-9:
        out.append(el("text", pct(lo), x=x, y=y, class_="tick", text_anchor="end"))
        for i in range(len(STOPS)):
            out.append(el("rect", x=x + 5 + 15 * i, y=y - 9, width=15, height=10,
                          fill=colour(i / (len(STOPS) - 1)), class_="swatch-step"))
        out.append(el("text", pct(hi), x=x + 10 + 15 * len(STOPS), y=y, class_="tick"))
    else:
        out.append(el("rect", x=x - 30, y=y - 9, width=15, height=10, fill=colour(0.5)))
        out.append(el("text", f"all {pct(lo)}", x=x - 10, y=y, class_="tick"))
    rx = f.x1 - 180
    out.append(el("circle", cx=rx, cy=y - 4, r=5, fill="none", stroke=WINNER, stroke_width=2))
    out.append(el("text", "★ winner", x=rx + 9, y=y, class_="legend"))
    rx += 72
    out.append(el("circle", cx=rx, cy=y - 4, r=5, fill="none", stroke=ORIGINAL, stroke_width=1.5,
                  stroke_dasharray="2.5 2"))
    out.append(el("text", "◆ original", x=rx + 9, y=y, class_="legend"))
    return Markup("").join(out)


def cluster_chart(cmap: CandidateMap | None) -> Markup:
    """The map as ``<svg data-chart="clusters">`` and its summary sentence under it."""
    if cmap is None or not cmap.points:
        return empty(NAME, W, 160, LABEL, "Nothing to plot: fewer than three scored candidates")
    f = Frame(W, H, left=16, right=16, top=34, bottom=26)
    x = Scale(0, 1, f.x0 + PAD + 4, f.x1 - PAD - 4)
    y = Scale(0, 1, f.y0 - PAD - 4, f.y1 + PAD + 18)  # room above for cluster names
    placed = spread([(x(p.x), y(p.y)) for p in cmap.points], (x.r0, x.r1, y.r1, y.r0))
    at = {p.id: xy for p, xy in zip(cmap.points, placed, strict=True)}
    scores = [p.score for p in cmap.points]
    lo, hi = min(scores), max(scores)
    shade = Scale(lo, hi, 0, 1)
    body = [el("rect", x=f.x0, y=f.y1, width=f.x1 - f.x0, height=f.y0 - f.y1, rx=8,
               fill="#fcfdfe", stroke="#eef2f7", class_="map-area"),
            _legend(f, lo, hi), _clusters(cmap, at, f, _taken(cmap, at, f))]
    marked = sorted(cmap.points, key=lambda p: (p.is_winner or p.is_original, p.score))
    body += [_point(cmap, p, at[p.id], shade(p.score) if hi > lo else 0.5) for p in marked]
    body += [_tag(p, at[p.id], f) for p in marked if p.is_winner or p.is_original]
    body.append(el("text", fit("Nearby prompts say similar things (PCA of MiniLM embeddings); "
                               "the axes have no units.", f.x1 - f.x0), x=f.x0, y=H - 8,
                   class_="note small"))
    summary = cmap.summary()
    chart = svg(NAME, W, H, f"{LABEL}. {summary}", *body)
    return chart + el("p", summary, class_="caption chart-summary")
