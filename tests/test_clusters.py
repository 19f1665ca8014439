"""Prompt variants grouped by meaning (real MiniLM embeddings, offline), the 2-D map of a run's
candidates, and its SVG chart for the HTML report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import numpy as np
import pytest

from core import Store, load_run
from core.clusters import (
    CandidateMap,
    MapPoint,
    candidate_map,
    clusters,
    embed_candidates,
    instruction_of,
    near_duplicate,
    project_2d,
)
from core.report.cluster_chart import GAP, cluster_chart, colour, spread
from tests.fakes.tuned_run import P0, P2, P4, TunedRun, shared_run

SVG = "{http://www.w3.org/2000/svg}"

SENTIMENT = [
    "Decide if the review is positive or negative. Answer with one word.\nReview: {{ text }}",
    "Decide whether the review is positive or negative. Answer with a single word.\n{{ text }}",
    "decide if the review is positive or negative;  answer with one word!\n\nReview: {{ text }}",
]
OTHER = "Translate the following sentence into French, keeping its tone.\n{{ text }}"
BOOLEAN = "Evaluate the Boolean expression and answer True or False.\n{{ expression }}"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunedRun]:
    with shared_run(tmp_path_factory) as run:
        yield run


def test_the_instruction_drops_template_slots_and_collapses_whitespace() -> None:
    text = "Label  this review:\n\n{{ text }}\n{% if x %}Hint: {{ x }}{% endif %} Answer."
    assert instruction_of(text) == "Label this review: Hint: Answer."
    assert instruction_of("{{ text }}") == ""
    # what candidate_text adds around the instruction is not part of it
    shown = ("[system]\nBe brief.\n\n[user]\nLabel: {{ text }}\n\n(+ 3 fixed train examples "
             "[1, 2, 5], as chat turns)\n\n(+ the answer follows \"A:\")")
    assert instruction_of(shown) == "Be brief. Label:"


def test_rewordings_of_one_instruction_share_a_cluster_and_another_task_does_not() -> None:
    vectors = embed_candidates([SENTIMENT[0], OTHER, *SENTIMENT[1:], BOOLEAN])
    assert vectors.shape == (5, 384)
    ids = clusters(vectors)
    assert ids[0] == ids[2] == ids[3] == 0  # numbered by first appearance
    assert ids[1] == 1 and ids[4] == 2
    assert clusters(vectors, threshold=1.01) == [0, 1, 2, 3, 4]  # nothing is that close
    assert clusters(vectors, threshold=-1.0) == [0] * 5


def test_complete_linkage_keeps_a_chain_of_neighbours_apart() -> None:
    # a-b and b-c are close enough, a-c is not: single linkage would chain all three
    angle = np.radians([0.0, 18.0, 40.0])
    vectors = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    assert clusters(vectors, threshold=float(np.cos(np.radians(25)))) == [0, 0, 1]
    assert clusters(np.zeros((0, 3))) == []


def test_the_projection_is_finite_deterministic_and_inside_the_unit_square() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(12, 384)).astype(np.float32)
    a, b = project_2d(vectors), project_2d(vectors.copy())
    assert a.shape == (12, 2) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.allclose(a.min(axis=0), 0.0) and np.allclose(a.max(axis=0), 1.0)  # fills the map
    # the sign of each axis does not depend on the sign the SVD happened to return
    assert np.allclose(project_2d(-vectors), a)


def test_the_projection_of_one_two_or_identical_points_has_no_nan() -> None:
    one = project_2d(np.ones((1, 384)))
    assert one.tolist() == [[0.5, 0.5]]
    two = project_2d(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert np.isfinite(two).all()
    assert sorted(two[:, 0].tolist()) == [0.0, 1.0] and two[:, 1].tolist() == [0.5, 0.5]
    same = project_2d(np.tile(np.array([0.1, 0.7, 0.3], dtype=np.float32), (4, 1)))
    assert same.tolist() == [[0.5, 0.5]] * 4
    assert project_2d(np.zeros((0, 384))).shape == (0, 2)


def test_near_duplicate_finds_a_reworded_prompt_and_rejects_a_different_one() -> None:
    base = "Decide if the review is positive or negative. Answer with one word.\nReview: {{ text }}"
    measured = [("c-other", embed_candidates([OTHER])[0]), ("c-base", embed_candidates([base])[0])]
    spaced = "Decide  if the review is positive or negative.\n\nAnswer with one word.\nReview:{{ text }}"
    punct = "decide if the review is positive, or negative; answer with one word!\nReview: {{ text }}"
    swapped = base.replace("positive or negative", "negative or positive")
    assert near_duplicate(spaced, measured) == "c-base"
    assert near_duplicate(punct, measured) == "c-base"
    assert near_duplicate(swapped, measured) == "c-base"
    assert near_duplicate(BOOLEAN, measured) is None
    assert near_duplicate(OTHER.upper(), measured) == "c-other"
    assert near_duplicate(spaced, []) is None
    # a sentence more is another prompt at the default threshold, the same at a lax one
    longer = base.replace("one word.", "one word, positive or negative, and nothing else.")
    assert near_duplicate(longer, measured) is None
    assert near_duplicate(longer, measured, threshold=0.9) == "c-base"
    step = base.replace("Answer", "Think step by step, then answer")
    assert near_duplicate(step, measured) is None


def _map(scores: list[float], cluster_of: list[int]) -> CandidateMap:
    n = len(scores)
    pts = [MapPoint(f"cand{i:02d}abcdef", i / max(1, n - 1), (i * 7 % n) / max(1, n - 1), s, c,
                    f"instruction <{i}> & more", i == n - 1, i == 0)
           for i, (s, c) in enumerate(zip(scores, cluster_of, strict=True))]
    return CandidateMap(tuple(pts))


def test_the_chart_is_well_formed_svg_with_one_point_per_candidate_and_a_legend() -> None:
    cmap = _map([0.4, 0.55, 0.6, 0.9, 0.85], [0, 1, 1, 2, 2])
    html = str(cluster_chart(cmap))
    root = ET.fromstring(f"<div>{html}</div>")  # the SVG and the summary under it
    svg = root.find(f"{SVG}svg")
    assert svg is not None and svg.get("data-chart") == "clusters"
    assert "3 clusters" in (svg.get("aria-label") or "")
    pts = [c for c in svg.iter(f"{SVG}circle") if "pt" in (c.get("class") or "").split()]
    assert sorted(c.get("data-id") or "" for c in pts) == sorted(p.id for p in cmap.points)
    tips = [c.find(f"{SVG}title") for c in pts]
    assert all(t is not None and t.text and "dev " in t.text for t in tips)
    assert any(t is not None and t.text and "instruction <4> & more" in t.text for t in tips)
    fills = {c.get("data-id"): c.get("fill") for c in pts}
    assert fills["cand00abcdef"] == colour(0.0) and fills["cand03abcdef"] == colour(1.0)
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert "dev score" in texts and "40%" in texts and "90%" in texts  # the colour legend
    assert "cluster 2 (2)" in texts and "cluster 3 (2)" in texts and "cluster 1 (1)" not in texts
    assert "★ cand04" in texts and "◆ cand00" in texts
    assert len(svg.findall(f".//{SVG}polygon[@class='cluster']")) == 4  # outline + tint, twice
    summary = root.find("p")
    assert summary is not None and summary.text == (
        "5 candidates in 3 clusters (instructions with cosine ≥ 0.92); the best cluster, "
        "cluster 3 (2 prompts), averages 88% dev, its best cand03abcdef at 90%.")


def test_near_duplicates_on_one_spot_are_spread_apart_inside_the_map() -> None:
    pts = [MapPoint(f"dup{i}", 0.5, 0.5, 0.5 + i / 10, 0, "same", i == 3, i == 0)
           for i in range(4)]
    pts.append(MapPoint("edge", 1.0, 1.0, 0.1, 1, "far", False, False))
    svg = ET.fromstring(f"<div>{cluster_chart(CandidateMap(tuple(pts)))}</div>").find(f"{SVG}svg")
    assert svg is not None
    at = [(float(c.get("cx") or 0), float(c.get("cy") or 0)) for c in svg.iter(f"{SVG}circle")
          if "pt" in (c.get("class") or "").split()]
    assert len(at) == 5
    closest = min(np.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(at) for b in at[i + 1:])
    assert closest >= GAP - 0.5
    assert all(0 < x < 560 and 0 < y < 340 for x, y in at)
    assert spread([(5.0, 5.0)] * 3, (0.0, 100.0, 0.0, 100.0)) == spread(
        [(5.0, 5.0)] * 3, (0.0, 100.0, 0.0, 100.0))  # deterministic


def test_the_chart_of_no_map_says_so_and_equal_scores_get_one_colour() -> None:
    empty = ET.fromstring(str(cluster_chart(None)))
    assert "fewer than three" in "".join(empty.itertext())
    flat = ET.fromstring(f"<div>{cluster_chart(_map([0.5, 0.5, 0.5], [0, 1, 2]))}</div>")
    fills = {c.get("fill") for c in flat.iter(f"{SVG}circle")
             if "pt" in (c.get("class") or "").split()}
    assert fills == {colour(0.5)}
    assert flat.findtext("p", "").endswith("no two are near-duplicates.")


def test_candidate_map_of_a_stored_run_places_every_scored_candidate(tuned: TunedRun) -> None:
    store = Store(tuned.store)
    try:
        view = load_run(store, tuned.run_id)
    finally:
        store.close()
    cmap = candidate_map(view)
    assert cmap is not None
    scored = {c.id: c for c in view.candidates if c.dev is not None and c.dev.n}
    assert len(scored) >= 3
    assert {p.id for p in cmap.points} == set(scored)
    by_text = {scored[p.id].text: p for p in cmap.points}
    # the two "Decide if the review is positive or negative…" prompts are one idea
    assert by_text[P2].cluster == by_text[P4].cluster != by_text[P0].cluster
    assert by_text[P0].is_original and not by_text[P2].is_original
    judged = view.judged()
    assert judged is not None and [p.id for p in cmap.points if p.is_winner] == [judged.id]
    assert all(0.0 <= p.x <= 1.0 and 0.0 <= p.y <= 1.0 for p in cmap.points)
    assert all(p.score == scored[p.id].score for p in cmap.points)
    assert candidate_map(view) == cmap  # deterministic
    html = str(cluster_chart(cmap))
    assert html.count('class="pt map"') == len(scored)
    few = type(view)(view.run, view.task, view.result, view.candidates[:2], view.rounds,
                     view.usage, view.totals)
    assert candidate_map(few) is None
