"""The score predictor, trained on a real on-disk store written through the Store's own methods.

On the tiny model, in three finished runs, adding demonstrations gains about 30 points over the
parent and a plain rewrite (auto/refine/vary, nothing else changed) loses about 10. On the small
model it is the other way round, in one run of four pairs: too few to learn from on their own."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from core.candidate import Candidate, Demos
from core.insights import changes, prompt_features
from core.models.base import Message
from core.predictor import (
    MIN_SUPPORT,
    Calibration,
    Predictor,
    calibration,
    describe,
    factors_of,
)
from core.screening import most_promising_first
from core.store import Store
from tests.fakes.stored_runs import Run

TINY, TINY_ELSEWHERE, SMALL = ("ollama:tiny@http://localhost:11434", "ollama:tiny@http://h:9/v1",
                               "llamacpp:small")
BASE = ("Read the film review below carefully and decide whether the person who wrote it liked "
        "the film or not, taking sarcasm and mixed feelings into account before you decide.\n\n"
        "Review: {{ text }}")
REWORDED = ("Read the film review below closely and judge whether its author enjoyed the film or "
            "not, taking irony and mixed feelings into account before you judge.\n\n"
            "Review: {{ text }}")
COT = BASE.replace("decide.", "decide. Think step by step.")
PARENT = range(9)                                      # 9 of 30 right
DEMOS = (range(18), range(17), range(19))              # +30, +26.7, +33.3 points
REWRITES = (range(6), range(5), range(7))              # -10, -13.3, -6.7 points
FIXED: dict[str, Any] = {"mode": "fixed", "k": 2, "indices": [0, 1], "placement": "turns"}


def build(store: Store, rid: str, target: str, *, demos_gain: int, rewrite_gain: int) -> None:
    """A run: the original, three demonstration children, three plain rewrites."""
    run = Run(store, rid, "films", target)
    run.add(f"{rid}-o", BASE, PARENT)
    for i, right in enumerate(DEMOS if demos_gain > 0 else REWRITES, 1):
        run.add(f"{rid}-d{i}", BASE, right, parent=f"{rid}-o", strategy="fewshot",
                operator="demos", extras={"demos": {**FIXED, "k": i + 1}})
    for i, right in enumerate(REWRITES if rewrite_gain < 0 else DEMOS, 1):
        run.add(f"{rid}-v{i}", REWORDED, right, parent=f"{rid}-o", strategy="auto/refine",
                operator="vary")
    run.finish()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    store = Store(path)
    for rid, target in (("a1", TINY), ("a2", TINY_ELSEWHERE), ("a3", TINY)):
        build(store, rid, target, demos_gain=+30, rewrite_gain=-10)
    small = Run(store, "b1", "films", SMALL)  # demonstrations lose here, rewrites gain
    small.add("b1-o", BASE, range(18))
    small.add("b1-d1", BASE, PARENT, parent="b1-o", strategy="fewshot", operator="demos",
              extras={"demos": FIXED})
    small.add("b1-d2", BASE, range(10), parent="b1-o", strategy="fewshot", operator="demos",
              extras={"demos": {**FIXED, "k": 3}})
    small.add("b1-v1", REWORDED, range(24), parent="b1-o", strategy="auto/refine",
              operator="vary")
    small.add("b1-v2", REWORDED, range(25), parent="b1-o", strategy="auto/refine",
              operator="vary")
    small.finish()
    running = Run(store, "c1", "films", TINY)  # unfinished: never trained on
    running.add("c1-o", BASE, range(20))
    running.add("c1-d1", BASE, PARENT, parent="c1-o", strategy="fewshot", operator="demos",
                extras={"demos": FIXED})
    store.close()
    return path


PARENT_C = Candidate(messages=(Message("user", BASE),))


def demos_child(k: int = 2) -> Candidate:
    return Candidate(messages=PARENT_C.messages, parents=(PARENT_C.id,), strategy="fewshot",
                     operator="demos", demos=Demos("fixed", k, tuple(range(k))))


REWRITE = PARENT_C.with_main(REWORDED, parents=(PARENT_C.id,), strategy="auto/refine",
                             operator="vary")
NOVEL = PARENT_C.with_main(COT, parents=(PARENT_C.id,), strategy="cot", operator="cot",
                           answer_prefix="Answer:")


def predictor(path: Path, target: str | None = TINY, **kw: Any) -> Predictor:
    store = Store.existing(path)  # read-only, as a command that reads history opens it
    try:
        return Predictor.from_store(store, target, **kw)
    finally:
        store.close()


# -- predictions --------------------------------------------------------------------------------------

def test_factors_are_named_as_insights_names_them() -> None:
    assert factors_of(PARENT_C, demos_child()) == ("operator: fewshot/demos",
                                                   "change: added demonstrations")
    assert changes(prompt_features(PARENT_C.to_json(), {}),
                   prompt_features(REWRITE.to_json(), {})) == []  # a plain rewording
    assert factors_of(PARENT_C, REWRITE) == ("operator: auto/refine/vary",)
    assert factors_of(PARENT_C, NOVEL) == ("operator: cot/cot",
                                           "change: asked for step-by-step reasoning",
                                           "change: added an answer prefix")


def test_demonstrations_are_predicted_to_help_with_an_interval_above_zero(
        store_path: Path) -> None:
    p = predictor(store_path)
    assert (p.target, p.pairs, p.pooled) == ("ollama:tiny", 18, False)
    got = p.predict(PARENT_C, demos_child())
    assert got.gain == pytest.approx(0.3, abs=0.02)
    assert 0 < got.low < got.gain < got.high < 0.45
    assert got.support == 9 and not got.loser
    assert got.factors == factors_of(PARENT_C, demos_child())


def test_a_plain_rewrite_is_a_confident_loser(store_path: Path) -> None:
    got = predictor(store_path).predict(PARENT_C, REWRITE)
    assert got.gain == pytest.approx(-0.1, abs=0.02)
    assert -0.25 < got.low < got.gain < got.high < 0
    assert got.support == 9 >= MIN_SUPPORT and got.loser


def test_factors_never_seen_have_no_support_and_an_open_interval(store_path: Path) -> None:
    got = predictor(store_path).predict(PARENT_C, NOVEL)
    assert got.support == 0 and not got.loser
    assert got.low < -0.5 and got.high > 0.5
    # each factor seen, never together (demonstrations only ever came with the fewshot operator,
    # so the data cannot tell their effects apart): plenty of support, still wide open
    mixed = Candidate(messages=PARENT_C.messages, parents=(PARENT_C.id,), strategy="auto/refine",
                      operator="vary", demos=Demos("knn", 4))
    wide = predictor(store_path).predict(PARENT_C, mixed)
    assert wide.support == 18 and wide.low < -0.5 and wide.high > 0.5 and not wide.loser


def test_another_target_is_not_used_when_this_one_has_enough_pairs(store_path: Path) -> None:
    tiny = predictor(store_path, "tiny")  # the bare model name, both endpoints
    assert (tiny.pairs, tiny.pooled) == (18, False)
    assert "operator: auto/refine/vary" in tiny.columns
    assert tiny.predict(PARENT_C, REWRITE).gain < 0  # the small model's rewrites gained +50
    small = predictor(store_path, SMALL)  # 4 pairs of its own: below MIN_SUPPORT, so pooled
    assert (small.target, small.pairs, small.pooled) == ("llamacpp:small", 22, True)
    everyone = predictor(store_path, None)
    assert (everyone.target, everyone.pairs, everyone.pooled) == (None, 22, False)


def test_exclude_run_and_task_leave_pairs_out(store_path: Path) -> None:
    assert predictor(store_path, exclude_run="a2").pairs == 12
    assert predictor(store_path, task="films").pairs == 18
    assert predictor(store_path, task="news").pairs == 0


def test_with_nothing_to_learn_from_nothing_is_predicted(tmp_path: Path,
                                                         store_path: Path) -> None:
    Store(tmp_path / "empty.db").close()
    for p in (predictor(tmp_path / "empty.db"), predictor(store_path, task="news")):
        got = p.predict(PARENT_C, REWRITE)
        assert (got.gain, got.low, got.high, got.support, got.loser) == (0.0, -1.0, 1.0, 0,
                                                                         False)


def test_predictions_are_deterministic(store_path: Path) -> None:
    assert predictor(store_path).predict(PARENT_C, REWRITE) == predictor(store_path).predict(
        PARENT_C, REWRITE)


def test_the_most_promising_proposals_come_first_and_ties_keep_their_order(
        store_path: Path) -> None:
    p = predictor(store_path)
    two, three = demos_child(2), demos_child(3)
    orphan = Candidate(messages=(Message("user", COT),), parents=("unknown",), strategy="cot",
                       operator="cot")
    made = [REWRITE, NOVEL, three, orphan, two]
    predicted = {c.id: (p.predict(PARENT_C, c), "") for c in made if c is not orphan}
    ranked = most_promising_first(made, predicted)
    assert ranked == [three, two, NOVEL, orphan, REWRITE]  # the orphan: no prediction, counts 0
    assert predicted[three.id] == predicted[two.id]
    assert predicted[NOVEL.id][0].support == 0 and predicted[REWRITE.id][0].loser
    assert most_promising_first(made, {}) == made  # the predictor off: the strategy's order


# -- calibration --------------------------------------------------------------------------------------

def record(store: Store, rid: str, cid: str, predicted: float, *, target: str = TINY,
           skipped: bool = False) -> None:
    store.record_prediction(rid, cid, parent_id=f"{rid}-o", target=target, predicted=predicted,
                            low=predicted - 0.1, high=predicted + 0.1, support=9,
                            skipped=skipped)


def test_calibration_compares_stored_predictions_with_measured_gains(store_path: Path) -> None:
    store = Store(store_path)
    try:
        record(store, "a1", "a1-d1", 0.25)      # measured +0.300: off by 0.050, right sign
        record(store, "a1", "a1-v1", -0.05)     # measured -0.100: off by 0.050, right sign
        record(store, "a1", "a1-v2", 0.10)      # measured -0.133: off by 0.233, wrong sign
        record(store, "a1", "a1-d2", 0.005)     # measured +0.267: off by 0.262, "no change"
        Run(store, "a4", "films", TINY).add("a4-x", REWORDED, (), parent="a4-o", scored=False)
        record(store, "a4", "a4-x", -0.1, skipped=True)   # skipped: never measured
        record(store, "a4", "a4-y", 0.1)        # dropped without a score: neither
        record(store, "b1", "b1-v1", 0.2, target=SMALL)   # measured +0.200
        cal = calibration(store, target="ollama:tiny")
        assert (cal.n, cal.skipped, cal.sign_agreement) == (4, 1, 0.5)
        assert cal.mae == pytest.approx((0.05 + 0.05 + 0.1 + 4 / 30 + 8 / 30 - 0.005) / 4)
        assert cal.correlation == pytest.approx(statistics.correlation(
            [0.25, -0.05, 0.10, 0.005], [0.3, -0.1, -4 / 30, 8 / 30]))
        everyone = calibration(store)
        assert (everyone.n, everyone.skipped) == (5, 1)
        alone = calibration(store, run_id="b1")
        assert (alone.n, alone.correlation, alone.sign_agreement, alone.skipped) == (1, None,
                                                                                    1.0, 0)
        assert alone.mae == pytest.approx(0.0)
        assert calibration(store, target=SMALL).n == 1
        assert calibration(store, run_id="a4") == Calibration(0, None, None, None, 1)
    finally:
        store.close()


def test_held_out_run_is_predicted_within_a_few_points(store_path: Path) -> None:
    """The engine's way: train without the run, record before scoring, calibrate after."""
    p = predictor(store_path, exclude_run="a3")
    store = Store(store_path)
    try:
        for cid, child in (("a3-d1", demos_child()), ("a3-v1", REWRITE)):
            got = p.predict(PARENT_C, child)
            store.record_prediction("a3", cid, parent_id="a3-o", target=TINY,
                                    predicted=got.gain, low=got.low, high=got.high,
                                    support=got.support, skipped=False)
        cal = calibration(store, target=TINY, run_id="a3")
    finally:
        store.close()
    assert cal.n == 2 and cal.sign_agreement == 1.0
    assert cal.mae is not None and cal.mae < 0.02


def test_a_store_without_predictions_calibrates_to_nothing(tmp_path: Path) -> None:
    fresh = Store(tmp_path / "fresh.db")
    try:
        assert calibration(fresh) == Calibration(0, None, None, None, 0)
        fresh.db.table("predictions").drop()  # as a store from before predictions were kept
    finally:
        fresh.close()
    old = Store.existing(tmp_path / "fresh.db")
    try:
        assert "predictions" not in old.db.table_names()
        assert calibration(old, target=TINY) == Calibration(0, None, None, None, 0)
    finally:
        old.close()


def test_describe_says_it_in_one_line() -> None:
    assert describe(Calibration(41, 0.06, 0.52, 0.78, 3)) == (
        "the predictor skipped 3 proposals; on 41 earlier predictions its error was 6 points "
        "(correlation 0.52, right sign 78%)")
    assert describe(Calibration(1, 0.123, None, 1.0, 1)) == (
        "the predictor skipped 1 proposal; on 1 earlier prediction its error was 12 points "
        "(right sign 100%)")
    assert describe(Calibration(0, None, None, None, 0)) == (
        "the predictor skipped 0 proposals; none of its predictions has been measured yet")
