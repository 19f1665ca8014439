"""The lineage chart of the HTML report: every candidate of a run under the one it came from, as
an indented tree (one row each, like ``prompt-tuner lineage``) with its dev score drawn as a bar
with its confidence interval beside it."""

from __future__ import annotations

from markupsafe import Markup

from ..history import RunView
from ..lineage import Node
from .svg import Scale, el, empty, fit, pct, svg, title, zebra

ROW, INDENT, R = 28.0, 24.0, 6.5
_BAR_W, _VALUE_W = 220.0, 150.0


def node_kind(node: Node) -> str:
    if node.external:
        return "external"
    if node.is_best:
        return "best"
    if node.is_original:
        return "original"
    if node.status in ("pruned", "dropped", "partial"):
        return "pruned"
    return "cand" if node.evaluated else "unscored"


def _made(node: Node) -> str:
    if node.external:
        return "not in this run"
    if node.is_original:
        return "original"
    gen = f"gen {node.generation}" if node.generation is not None else ""
    return " · ".join(p for p in (node.operator or node.strategy or "?", gen) if p)


def _tip(node: Node) -> str:
    lines = [f"{node.id} · {_made(node)}"]
    if node.evaluated:
        lines.append(f"dev {pct(node.score or 0)} [{pct(node.ci_low or 0)}, "
                     f"{pct(node.ci_high or 0)}] (n={node.n})")
    elif not node.external:
        lines.append("not scored")
    if node.status not in ("evaluated", "external", "proposed"):
        lines.append(f"status: {node.status}")
    if node.other_parents:
        lines.append(f"also from {', '.join(node.other_parents)}")
    if node.note:
        lines.append(node.note)
    return "\n".join(lines)


def lineage_chart(view: RunView, width: float = 1120.0) -> Markup:
    name, label = "lineage", "Lineage: each candidate under the prompt it came from"
    rows = list(view.lineage_rows())
    if not rows:
        return empty(name, width, 120, label, "Nothing to plot: no candidates were stored")
    depth = max(d for d, _ in rows)
    tree_w = 24 + depth * INDENT + 250
    width = max(width, tree_w + _BAR_W + _VALUE_W + 200)
    height = ROW * len(rows) + 44
    bar = Scale(0, 1, tree_w, tree_w + _BAR_W)
    body = [el("text", "candidate", x=16, y=18, class_="col-head"),
            el("text", "dev score (95% CI)", x=tree_w, y=18, class_="col-head"),
            el("text", "note", x=tree_w + _BAR_W + _VALUE_W, y=18, class_="col-head")]
    ys = [36 + ROW * (i + 0.5) for i in range(len(rows))]
    xs = [20 + d * INDENT for d, _ in rows]
    body += [zebra(width, ys, ROW), *_edges(rows, xs, ys)]
    note_room = width - (bar.r1 + _VALUE_W) - 12
    for i, (_, node) in enumerate(rows):
        body.append(_row(node, xs[i], ys[i], bar, note_room))
    return svg(name, width, height, label, *body)


def _edges(rows: list[tuple[int, Node]], xs: list[float], ys: list[float]) -> list[Markup]:
    """Elbows from each node down its guide and across to each child."""
    out = []
    where = {id(node): i for i, (_, node) in enumerate(rows)}
    for i, (_, node) in enumerate(rows):
        for child in node.children:
            j = where.get(id(child))
            if j is None:
                continue
            d = (f"M{xs[i]:.1f},{ys[i] + R:.1f} L{xs[i]:.1f},{ys[j] - 6:.1f} "
                 f"Q{xs[i]:.1f},{ys[j]:.1f} {xs[i] + 6:.1f},{ys[j]:.1f} L{xs[j] - R:.1f},{ys[j]:.1f}")
            out.append(el("path", d=d, class_="edge"))
    return out


def _row(node: Node, x: float, y: float, bar: Scale, note_room: float) -> Markup:
    cls = node_kind(node)
    out = []
    point_cls = "node external" if node.external else f"pt node {cls}"
    out.append(el("circle", title(_tip(node)), cx=x, cy=y, r=R, class_=point_cls))
    mark = "★ " if node.is_best else "◆ " if node.is_original else ""
    extra = f"  × {', '.join(p[:6] for p in node.other_parents)}" if node.other_parents else ""
    out.append(el("text", el("tspan", mark + node.id, class_="id"),
                  el("tspan", f"  {_made(node)}{extra}", class_="muted"),
                  x=x + R + 8, y=y + 4, class_="row-label"))
    if node.evaluated:
        lo, hi, mean = node.ci_low or 0.0, node.ci_high or 0.0, node.score or 0.0
        out.append(el("rect", x=bar.r0, y=y - 5, width=bar.r1 - bar.r0, height=10, rx=2,
                      class_="track"))
        out.append(el("rect", x=bar.r0, y=y - 5, width=bar(mean) - bar.r0, height=10, rx=2,
                      class_=f"fill {cls}"))
        out.append(el("line", x1=bar(lo), x2=bar(hi), y1=y, y2=y, class_="whisker ci-dark"))
        out.append(el("text", f"{pct(mean)} [{pct(lo)}, {pct(hi)}] n={node.n}",
                      x=bar.r1 + 10, y=y + 4, class_="value"))
    else:
        out.append(el("text", "external" if node.external else node.status or "not scored",
                      x=bar.r0, y=y + 4, class_="muted"))
    if node.note:
        out.append(el("text", fit(" ".join(node.note.split()), note_room), x=bar.r1 + _VALUE_W,
                      y=y + 4, class_="muted"))
    return Markup("").join(out)
