"""The score charts of the HTML report, as inline SVG: the best score per round with its
confidence band, the candidate leaderboard, score against prompt length with the Pareto front,
and the winner against the original per metric.

Each chart is an ``<svg data-chart=NAME>`` whose data points carry the class ``pt`` and a
``<title>`` tooltip; a chart with nothing to plot says so in its place.
"""

from __future__ import annotations

from markupsafe import Markup

from ..history import CandidateView, MetricBreakdown, RunView
from ..metrics.stats import Estimate
from .facts import winner
from .svg import (
    Frame,
    Scale,
    el,
    empty,
    legend,
    nice_ticks,
    pct,
    points,
    short_label,
    svg,
    title,
    x_axis,
    y_grid,
    zebra,
)

W, H = 560.0, 300.0
_PRUNED = ("pruned", "dropped", "partial")


def kind(view: RunView, c: CandidateView) -> str:
    """The CSS class a candidate is drawn with."""
    if c.is_best:
        return "best"
    if c.is_original:
        return "original"
    search = view.search_best
    if search is not None and search.id == c.id:
        return "leader"
    return "pruned" if c.status in _PRUNED else "cand"


def describe(c: CandidateView) -> str:
    """``e84107ba9595 · refine (round 3)`` for tooltips."""
    made = "the original" if c.is_original else (c.operator or c.strategy or "?")
    where = f" (round {c.round})" if c.round else ""
    return f"{c.id} · {made}{where}"


def whisker(x0: float, x1: float, y0: float, y1: float, cls: str) -> Markup:
    return el("line", x1=x0, x2=x1, y1=y0, y2=y1, class_=f"whisker {cls}")


def diamond(cx: float, cy: float, r: float, cls: str, tip: str) -> Markup:
    path = f"M{cx:.1f},{cy - r:.1f} L{cx + r:.1f},{cy:.1f} L{cx:.1f},{cy + r:.1f} " \
           f"L{cx - r:.1f},{cy:.1f} Z"
    return el("path", title(tip), d=path, class_=f"pt {cls}")


# -- best score per round ---------------------------------------------------------------------------


def rounds_chart(view: RunView) -> Markup:
    name, label = "rounds", "Best dev score after each round, with 95% confidence band"
    rounds = [r for r in view.rounds if r.best.n]
    if not rounds:
        return empty(name, W, H, label, "Nothing to plot: this run recorded no rounds")
    held = _held_out(view)
    cats = ["baseline" if r.round == 0 else f"round {r.round}" for r in rounds]
    cats += ["held-out"] if held else []
    f = Frame(W, H, top=40, bottom=40)
    slot = (f.x1 - f.x0) / len(cats)
    xs = [f.x0 + slot * (i + 0.5) for i in range(len(cats))]
    y = Scale(0, 1, f.y0, f.y1)
    shown = [short_label(c) for c in cats] if slot < 62 else cats
    body = [y_grid(f, y, nice_ticks(0, 1, 4), label="dev score"),
            x_axis(f, list(zip(xs, shown, strict=True)))]
    base = rounds[0].best.mean
    body.append(el("line", x1=f.x0, x2=f.x1, y1=y(base), y2=y(base), class_="ref"))
    if y(base) + 14 <= f.y0 - 4:  # on the x axis, the baseline point's own label says it
        body.append(el("text", f"baseline {pct(base)}", x=f.x0 + 4, y=y(base) + 14,
                       class_="ref-label"))
    band = [(xs[i], y(r.best.high)) for i, r in enumerate(rounds)]
    band += [(xs[i], y(r.best.low)) for i, r in reversed(list(enumerate(rounds)))]
    if len(rounds) > 1:
        body.append(el("polygon", points=points(band), class_="band"))
        body.append(el("polyline", points=points((xs[i], y(r.best.mean))
                                                 for i, r in enumerate(rounds)), class_="line"))
    for i, r in enumerate(rounds):
        c = view.candidate(r.best_id)
        who = describe(c) if c is not None else r.best_id
        tip = (f"{cats[i]}: best {who}\ndev {r.best.fmt()}\n{r.calls} calls so far")
        if len(rounds) == 1:
            body.append(whisker(xs[i], xs[i], y(r.best.low), y(r.best.high), "round"))
        body.append(el("circle", title(tip), cx=xs[i], cy=y(r.best.mean), r=5.5, class_="pt round"))
        body.append(el("text", pct(r.best.mean), x=xs[i], y=y(r.best.mean) - 11, class_="value",
                       text_anchor="middle"))
    if held:
        hx = xs[-1]
        body.append(el("line", x1=hx - slot / 2, x2=hx - slot / 2, y1=f.y1, y2=f.y0,
                       class_="divider"))
        for dx, (cls, who, est) in zip((-9.0, 9.0), held, strict=False):
            tip = f"held-out: {who}\ntest {est.fmt()}"
            body.append(whisker(hx + dx, hx + dx, y(est.low), y(est.high), cls))
            body.append(diamond(hx + dx, y(est.mean), 6, cls, tip))
            body.append(el("text", pct(est.mean), x=hx + dx + (14 if dx > 0 else -14),
                           y=y(est.mean) + 4, class_="value",
                           text_anchor="start" if dx > 0 else "end"))
    who = "returned" if view.best is not None and not view.best.is_original else "search's best"
    items = [("round", "best so far")] + ([("original", "original"), ("best", who)]
                                          if held else [])
    body.append(legend(f.x1, 14, items))
    return svg(name, W, H, label, *body)


def _held_out(view: RunView) -> list[tuple[str, str, Estimate]]:
    """The held-out scores of the original and the prompt compared with it, when the run has
    them."""
    out = []
    for c, cls in ((view.original, "original"), (winner(view)[0], "best")):
        if c is not None and c.test is not None and c.test.n:
            out.append((cls, describe(c), c.test))
    return out if len(out) == 2 and out[0][1] != out[1][1] else []


# -- leaderboard ------------------------------------------------------------------------------------


def leaderboard_chart(view: RunView, limit: int = 10) -> Markup:
    name, label = "leaderboard", "Candidates ranked by dev score, with 95% confidence intervals"
    scored = [c for c in view.ranked() if c.dev is not None and c.dev.n]
    if not scored:
        return empty(name, W, H, label, "Nothing to plot: no candidate was scored")
    shown = scored[:limit]
    row = min(40.0, max(30.0, (H - 72) / len(shown)))
    height = 34 + row * len(shown) + 36 + (14 if len(scored) > limit else 0)
    f = Frame(W, height, left=168, right=86, top=34, bottom=36 + (14 if len(scored) > limit else 0))
    x = Scale(0, 1, f.x0, f.x1)
    body = [zebra(W, [f.y1 + row * (i + 0.5) for i in range(len(shown))], row)]
    for t in nice_ticks(0, 1, 4):
        body.append(el("line", x1=x(t), x2=x(t), y1=f.y1 - 4, y2=f.y0, class_="grid"))
        body.append(el("text", pct(t), x=x(t), y=f.y0 + 16, class_="tick", text_anchor="middle"))
    body.append(el("text", "dev score", x=(f.x0 + f.x1) / 2, y=f.y0 + 30, class_="axis-title",
                   text_anchor="middle"))
    orig = view.original
    if orig is not None and orig.dev is not None and orig.dev.n:
        ox = x(orig.dev.mean)
        body.append(el("line", x1=ox, x2=ox, y1=f.y1 - 4, y2=f.y0, class_="ref"))
    for i, c in enumerate(shown):
        body.append(_leader_row(view, c, f.y1 + row * (i + 0.5), x, f))
    if len(scored) > limit:
        body.append(el("text", f"+ {len(scored) - limit} more in the candidates table",
                       x=f.x0, y=height - 6, class_="note"))
    body.append(legend(W - 6, 16, [("cand", "dev"), ("test", "held-out")]))
    return svg(name, W, height, label, *body)


def _leader_row(view: RunView, c: CandidateView, cy: float, x: Scale, f: Frame) -> Markup:
    assert c.dev is not None
    cls = kind(view, c)
    out = []
    mark = "★ " if c.is_best else "◆ " if c.is_original else ""
    made = "original" if c.is_original else f"{c.operator or '?'} · r{c.round}" \
        if c.round is not None else (c.operator or "?")
    out.append(el("text", el("tspan", mark + c.id, class_="id"), el("tspan", f"  {made}",
                                                                    class_="muted"),
                  x=f.x0 - 10, y=cy + 4, text_anchor="end", class_="row-label"))
    test = c.test if c.test is not None and c.test.n else None
    dy = -4.0 if test is not None else 0.0
    out.append(whisker(x(c.dev.low), x(c.dev.high), cy + dy, cy + dy, cls))
    status = f" · {c.status}" if c.status in _PRUNED else ""
    out.append(el("circle", title(f"{describe(c)}{status}\ndev {c.dev.fmt()}"), cx=x(c.dev.mean),
                  cy=cy + dy, r=5, class_=f"pt {cls}"))
    value = pct(c.dev.mean)
    if test is not None:
        out.append(whisker(x(test.low), x(test.high), cy + 5, cy + 5, "test"))
        out.append(diamond(x(test.mean), cy + 5, 4.5, "test", f"{describe(c)}\nheld-out {test.fmt()}"))
        value += f" · {pct(test.mean)}"
    out.append(el("text", value, x=f.x1 + 10, y=cy + 4, class_="value"))
    return Markup("").join(out)


# -- score against prompt length ----------------------------------------------------------------------


def pareto_chart(view: RunView) -> Markup:
    name, label = "pareto", "Dev score against prompt length, with the Pareto front"
    pts = [c for c in view.candidates if c.dev is not None and c.dev.n and c.status != "partial"]
    if len(pts) < 2:
        return empty(name, W, H, label, "Nothing to plot: fewer than two scored candidates")
    front_ids = view.pareto()
    f = Frame(W, H, top=40, bottom=42, right=24)
    xticks = nice_ticks(0, max(c.prompt_tokens for c in pts) * 1.08, 5)
    x = Scale(0, xticks[-1], f.x0, f.x1)
    y = Scale(0, 1, f.y0, f.y1)
    body = [y_grid(f, y, nice_ticks(0, 1, 4), label="dev score"),
            x_axis(f, [(x(t), f"{t:g}") for t in xticks], "prompt tokens per answer (mean)")]
    front = sorted((c for c in pts if c.id in front_ids), key=lambda c: (c.prompt_tokens, c.score))
    if front:
        stairs: list[tuple[float, float]] = []
        for a in front:
            assert a.dev is not None
            if stairs:
                stairs.append((x(a.prompt_tokens), stairs[-1][1]))
            stairs.append((x(a.prompt_tokens), y(a.dev.mean)))
        stairs.append((f.x1, stairs[-1][1]))
        shade = [*stairs, (f.x1, f.y0), (stairs[0][0], f.y0)]
        body.append(el("polygon", points=points(shade), class_="dominated"))
        body.append(el("polyline", points=points(stairs), class_="front"))
    for c in sorted(pts, key=lambda c: c.id in front_ids):
        assert c.dev is not None
        on = c.id in front_ids
        cls = kind(view, c)
        measured = "measured" if c.tokens_measured else "estimated from the text"
        tip = (f"{describe(c)}\ndev {c.dev.fmt()}\n{c.prompt_tokens:.0f} prompt tokens "
               f"({measured})" + ("\non the Pareto front" if on else ""))
        cx, cy = x(c.prompt_tokens), y(c.dev.mean)
        body.append(el("circle", title(tip), cx=cx, cy=cy, r=6 if on else 4.5,
                       class_=f"pt {cls}" + ("" if on else " off")))
        if on or c.is_best or c.is_original:
            tag = "★ " if c.is_best else "◆ " if c.is_original else ""
            left = cx > f.x1 - 70
            below = cy + 15 <= f.y0 - 4  # else above: the x axis's labels are underneath
            body.append(el("text", tag + c.id[:6], x=cx - 8 if left else cx + 8,
                           y=cy + 15 if below else cy - 9, class_="point-label",
                           text_anchor="end" if left else None))
    body.append(legend(f.x1, 14, [("front-swatch", "Pareto front"), ("cand", "candidate")]))
    return svg(name, W, H, label, *body)


# -- per metric -------------------------------------------------------------------------------------


def metrics_chart(view: RunView, breakdown: list[MetricBreakdown]) -> Markup:
    name, label = "metrics", "Each metric, the winner against the original, with 95% CIs"
    orig, best = view.original, view.search_best
    if not breakdown or orig is None or best is None:
        return empty(name, W, H, label, "Nothing to plot: no scores to compare per metric")
    if orig.id == best.id:
        return empty(name, W, H, label, "Nothing to plot: the search kept the original prompt")
    f = Frame(W, H, top=40, bottom=40)
    y = Scale(0, 1, f.y0, f.y1)
    slot = (f.x1 - f.x0) / len(breakdown)
    bar = min(44.0, slot * 0.3)
    split = "held-out" if view.heldout else "dev"
    who = "returned" if best.is_best else "search's best"
    body = [y_grid(f, y, nice_ticks(0, 1, 4), label=f"{split} score"),
            x_axis(f, [(f.x0 + slot * (i + 0.5), m.name) for i, m in enumerate(breakdown)])]
    for i, m in enumerate(breakdown):
        mid = f.x0 + slot * (i + 0.5)
        for dx, cls, whom, est in ((-bar * 0.55, "original", "original", m.original),
                                   (bar * 0.55, "best", who, m.best)):
            cx = mid + dx
            top = y(est.mean)
            tip = f"{m.name}, {whom} ({split})\n{est.fmt()}"
            body.append(el("rect", title(tip), x=cx - bar / 2, y=top, width=bar,
                           height=max(0.0, f.y0 - top), rx=3, class_=f"pt bar {cls}"))
            body.append(whisker(cx, cx, y(est.low), y(est.high), "bar-ci"))
            body.append(el("text", pct(est.mean), x=cx, y=y(est.high) - 6, class_="value",
                           text_anchor="middle"))
    body.append(legend(f.x1, 14, [("original", "original"), ("best", who)]))
    return svg(name, W, H, label, *body)
