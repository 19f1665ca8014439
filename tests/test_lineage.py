"""Lineage and diff of a run's candidates: the tree, the word diff, lookup, and the two commands."""

from __future__ import annotations

import argparse
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from core import PromptTunerError, Store
from core.cli.app import _common, _load, _Parser
from core.cli.history import add_parsers, node_label
from core.cli.history import run as history_run
from core.lineage import Node, candidate_text, lineage, resolve_candidate, tokens, walk, word_diff

RUN = "run-1"
ORIG, VAR1, VAR2, REF, CROSS, FEW = ("aaaa00000001", "bbbb00000001", "bbbb00000002",
                                     "cccc00000001", "dddd00000001", "eeee00000001")
TEXTS = {
    ORIG: "Classify the sentiment of the review as positive or negative.",
    VAR1: "Read the review. Classify its sentiment as positive or negative.",
    VAR2: "Classify the review: positive or negative? Answer with one word.",
    REF: "Read the review. Classify its sentiment as positive or negative. Mixed reviews are negative.",
    CROSS: "Read the review. Classify its sentiment: positive or negative? Answer with one word.",
}


# -- a run on disk ----------------------------------------------------------------------------------


def add(store: Store, run_id: str, cid: str, text: str | list[dict[str, str]], *,
        parents: list[str] | None = None, operator: str = "vary", strategy: str = "refine",
        generation: int = 0, note: str = "", at: float = 0.0,
        score: tuple[float, float, float, int, str] | None = None, task: str = "sentiment",
        extras: dict[str, Any] | None = None) -> None:
    messages = [{"role": "user", "content": text}] if isinstance(text, str) else text
    more = {"extras": extras} if extras else {}
    store.add_candidate(run_id, task, candidate_id=cid, messages=messages, parents=parents or [],
                        strategy=strategy, operator=operator, generation=generation, note=note,
                        **more)
    store.db.table("candidates").update((run_id, cid), {"created_at": 1000.0 + at})
    if score is not None:
        mean, low, high, n, status = score
        store.set_candidate_score(run_id, cid, score=mean, low=low, high=high, n=n, status=status)


def new_run(store: Store, run_id: str = RUN) -> None:
    store.create_run(run_id, task_name="sentiment", task={"name": "sentiment"}, settings={},
                     target="embedded", optimizer="embedded", judge="embedded", metric="label")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "s.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    """original → two variations → a refine of the first → a crossover of the refine and the second
    variation → a few-shot child of the crossover; finished, the refine best."""
    s = Store(store_path)
    new_run(s)
    add(s, RUN, ORIG, TEXTS[ORIG], operator="original", strategy="original", at=0,
        score=(0.6, 0.45, 0.73, 40, "evaluated"))
    add(s, RUN, VAR1, TEXTS[VAR1], parents=[ORIG], generation=1, at=1,
        score=(0.7, 0.55, 0.82, 40, "evaluated"))
    add(s, RUN, VAR2, TEXTS[VAR2], parents=[ORIG], generation=1, at=2)
    add(s, RUN, REF, TEXTS[REF], parents=[VAR1], operator="refine", generation=2, at=3,
        note="fixes the [bold]mixed[/] reviews", score=(0.8, 0.66, 0.89, 40, "evaluated"))
    add(s, RUN, CROSS, TEXTS[CROSS], parents=[REF, VAR2], operator="crossover", strategy="evolve",
        generation=3, at=4, score=(0.5, 0.24, 0.76, 10, "partial"))
    add(s, RUN, FEW, TEXTS[CROSS], parents=[CROSS], operator="fewshot", strategy="evolve",
        generation=4, at=5, score=(0.4, 0.2, 0.6, 12, "pruned"),
        extras={"demos": {"mode": "fixed", "k": 2, "indices": [3, 8], "placement": "turns"}})
    s.finish_run(RUN, status="finished", original_id=ORIG, best_id=REF, original_score=0.6,
                 best_score=0.8)
    yield s
    s.close()


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="prompt-tuner")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_parsers(sub, _common)
    return p


def cli(argv: list[str], store_path: Path, *, terminal: bool = False, width: int = 200
        ) -> tuple[int, str, str]:
    """What ``core.cli.main`` does with these commands: parse, load settings, run; a
    ``PromptTunerError`` is one line on stderr and its exit code."""
    buf, err = io.StringIO(), io.StringIO()
    out = Console(file=buf, width=width, force_terminal=terminal,
                  color_system="standard" if terminal else None)
    try:
        args = parser().parse_args([*argv, "--store", str(store_path)])
        code = history_run(args, out, _load(args).settings)
    except PromptTunerError as exc:
        err.write(f"prompt-tuner: error: {exc}\n")
        code = exc.exit_code
    return code, buf.getvalue(), err.getvalue()


def by_id(roots: list[Node]) -> dict[str, Node]:
    return {n.id: n for _, n in walk(roots)}


# -- the tree ---------------------------------------------------------------------------------------


def test_tree_shape_follows_first_parents(store: Store) -> None:
    roots = lineage(store, RUN)
    assert [r.id for r in roots] == [ORIG]
    nodes = by_id(roots)
    assert [c.id for c in nodes[ORIG].children] == [VAR1, VAR2]
    assert [c.id for c in nodes[VAR1].children] == [REF]
    assert [c.id for c in nodes[REF].children] == [CROSS]
    assert [c.id for c in nodes[CROSS].children] == [FEW]
    assert nodes[VAR2].children == []
    # the crossover hangs under its first parent and names the other
    assert nodes[CROSS].tree_parent == REF
    assert nodes[CROSS].other_parents == (VAR2,)
    assert nodes[VAR2].secondary_of == [CROSS]
    assert [(d, n.id) for d, n in walk(roots)] == [
        (0, ORIG), (1, VAR1), (2, REF), (3, CROSS), (4, FEW), (1, VAR2)]


def test_nodes_carry_scores_status_and_markers(store: Store) -> None:
    nodes = by_id(lineage(store, RUN))
    assert nodes[ORIG].is_original and not nodes[ORIG].is_best
    assert nodes[REF].is_best and not nodes[REF].is_original
    assert sum(n.is_best for n in nodes.values()) == sum(n.is_original for n in nodes.values()) == 1
    ref = nodes[REF]
    assert (ref.operator, ref.strategy, ref.generation) == ("refine", "refine", 2)
    assert (ref.score, ref.ci_low, ref.ci_high, ref.n, ref.status) == (0.8, 0.66, 0.89, 40, "evaluated")
    assert ref.note == "fixes the [bold]mixed[/] reviews"
    var2 = nodes[VAR2]
    assert (var2.score, var2.ci_low, var2.ci_high, var2.n, var2.status) == (None, None, None, None,
                                                                            "proposed")
    assert nodes[CROSS].status == "partial" and nodes[FEW].status == "pruned"


def test_unfinished_run_finds_its_original_but_has_no_best(store: Store) -> None:
    new_run(store, "run-2")
    add(store, "run-2", ORIG, TEXTS[ORIG], operator="original", strategy="original")
    add(store, "run-2", VAR1, TEXTS[VAR1], parents=[ORIG], generation=1, at=1)
    nodes = by_id(lineage(store, "run-2"))
    assert nodes[ORIG].is_original
    assert not any(n.is_best for n in nodes.values())
    assert resolve_candidate(store, "run-2", "original")["id"] == ORIG
    with pytest.raises(PromptTunerError, match="run-2 has no best candidate yet"):
        resolve_candidate(store, "run-2", "best")


def test_parents_outside_the_run_are_external_roots(store: Store) -> None:
    new_run(store, "run-2")
    add(store, "run-2", VAR1, TEXTS[VAR1], operator="edit", strategy="human", parents=[ORIG],
        generation=1)
    add(store, "run-2", CROSS, TEXTS[CROSS], parents=[VAR1, "ffff00000009"], operator="crossover",
        generation=2, at=1)
    roots = lineage(store, "run-2")
    assert [(r.id, r.external) for r in roots] == [(ORIG, True), ("ffff00000009", True)]
    assert [c.id for c in roots[0].children] == [VAR1]
    assert roots[1].children == [] and roots[1].secondary_of == [CROSS]
    assert not any(r.is_original for r in roots)


def test_a_cycle_in_stored_parents_does_not_loop(store: Store) -> None:
    new_run(store, "run-3")
    add(store, "run-3", VAR1, TEXTS[VAR1], parents=[VAR2])
    add(store, "run-3", VAR2, TEXTS[VAR2], parents=[VAR1], at=1)
    roots = lineage(store, "run-3")
    assert sorted(n.id for _, n in walk(roots)) == [VAR1, VAR2]


def test_labels_dim_everything_not_fully_evaluated(store: Store) -> None:
    nodes = by_id(lineage(store, RUN))
    assert node_label(nodes[REF]).style == ""
    for cid in (VAR2, CROSS, FEW):
        assert node_label(nodes[cid]).style == "dim"


# -- the lineage command ----------------------------------------------------------------------------


def test_lineage_prints_the_tree(store: Store, store_path: Path) -> None:
    code, out, err = cli(["lineage", RUN], store_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"run {RUN} · sentiment · finished · 6 candidates"

    def line(cid: str) -> str:
        [got] = [ln for ln in lines if cid in ln.split(" × ")[0]]
        return got

    assert line(ORIG).endswith(f"{ORIG} original (gen 0): 60% [45%, 73%] n=40  ◆ original")
    assert line(VAR1).endswith(f"{VAR1} vary (refine, gen 1): 70% [55%, 82%] n=40")
    assert line(REF).endswith(f"{REF} refine (gen 2): 80% [66%, 89%] n=40  ★ best  — fixes the "
                              "[bold]mixed[/] reviews")
    assert line(VAR2).endswith(f"{VAR2} vary (refine, gen 1): unevaluated")
    assert line(CROSS).endswith(f"{CROSS} crossover (evolve, gen 3): 50% [24%, 76%] n=10 (partial)"
                                f"  × also from {VAR2}")
    assert "(pruned)" in line(FEW)
    depth = {cid: line(cid).index(cid) for cid in TEXTS | {FEW: ""}}
    assert depth[ORIG] < depth[VAR1] == depth[VAR2] < depth[REF] < depth[CROSS] < depth[FEW]


def test_plain_lineage_keeps_one_line_per_node_at_any_width(store: Store, store_path: Path) -> None:
    _, wide, _ = cli(["lineage", RUN], store_path)
    code, narrow, _ = cli(["lineage", RUN], store_path, width=40)
    assert code == 0 and narrow == wide and len(narrow.splitlines()) == 7
    assert "\x1b[" not in narrow


def test_lineage_in_a_terminal_is_a_rich_tree(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["lineage", RUN], store_path, terminal=True, width=80)
    assert code == 0
    assert "\x1b[" in out and "★ best" in out and "◆ original" in out
    assert "[bold]mixed[/]" in out  # notes print as written, not as markup


def test_a_deep_lineage_is_not_recursive(store: Store, store_path: Path) -> None:
    new_run(store, "deep")
    rows = [{"run_id": "deep", "id": f"{i:012x}", "task_name": "sentiment",
             "messages_json": json.dumps([{"role": "user", "content": str(i)}]),
             "parents_json": json.dumps([f"{i - 1:012x}"] if i else []), "strategy": "refine",
             "operator": "vary" if i else "original", "generation": i, "note": "",
             "created_at": float(i), "status": "proposed"} for i in range(1100)]
    store.db.table("candidates").insert_all(rows)
    assert max(d for d, _ in walk(lineage(store, "deep"))) == 1099
    code, out, _ = cli(["lineage", "deep"], store_path)
    assert code == 0 and len(out.splitlines()) == 1101


def test_lineage_json_is_the_node_list(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["lineage", RUN, "--json"], store_path)
    assert code == 0
    nodes = json.loads(out)
    assert [(n["id"], n["depth"]) for n in nodes] == [
        (ORIG, 0), (VAR1, 1), (REF, 2), (CROSS, 3), (FEW, 4), (VAR2, 1)]
    cross = nodes[3]
    assert cross["parents"] == [REF, VAR2] and cross["tree_parent"] == REF
    assert cross["status"] == "partial" and cross["n"] == 10
    assert [n["id"] for n in nodes if n["original"]] == [ORIG]
    assert [n["id"] for n in nodes if n["best"]] == [REF]
    assert nodes[0]["children"] == [VAR1, VAR2]
    assert nodes[5]["score"] is None


# -- the diff command -------------------------------------------------------------------------------


def test_diff_against_the_first_parent_plain(store: Store, store_path: Path) -> None:
    code, out, err = cli(["diff", RUN, "cccc"], store_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (f"{VAR1} vary (refine, gen 1) 70% [55%, 82%] n=40 → "
                        f"{REF} refine (gen 2) 80% [66%, 89%] n=40")
    assert lines[1] == "note: fixes the [bold]mixed[/] reviews"
    assert lines[2] == "0 words deleted, 4 inserted"
    assert lines[4] == ("Read the review. Classify its sentiment as positive or negative."
                        "{+ Mixed reviews are negative.+}")


def test_diff_against_another_candidate(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["diff", RUN, "best", "original"], store_path)
    assert code == 0
    assert out.splitlines()[0].startswith(f"{ORIG} original (gen 0) 60% [45%, 73%] n=40 → {REF}")
    body = out.splitlines()[-1]
    assert body == ("[-Classify the sentiment of-]{+Read+} the review{+. Classify its sentiment+} as "
                    "positive or negative.{+ Mixed reviews are negative.+}")
    # the two texts come back from the markers
    assert body.count("[-") == body.count("-]") and body.count("{+") == body.count("+}")


def test_diff_of_a_few_shot_child_shows_its_demonstrations(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["diff", RUN, "eeee"], store_path)
    assert code == 0
    assert out.endswith(TEXTS[CROSS] + "{+\n\n(+ 2 fixed train examples [3, 8], as chat turns)+}\n")


def test_diff_of_a_multi_message_child_shows_roles(store: Store, store_path: Path) -> None:
    add(store, RUN, "abab00000001", [{"role": "system", "content": TEXTS[CROSS]},
                                     {"role": "user", "content": "{review}"}],
        parents=[CROSS], operator="chat", generation=4, at=6,
        extras={"answer_prefix": "Answer:"})
    code, out, _ = cli(["diff", RUN, "abab"], store_path)
    assert code == 0
    assert out.endswith("{+[system]\n+}" + TEXTS[CROSS] + "{+\n\n[user]\n{review}\n\n(+ the answer "
                        'follows "Answer:")+}\n')


def test_diff_in_a_terminal_is_coloured_not_marked(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["diff", RUN, REF, ORIG], store_path, terminal=True)
    assert code == 0
    assert "\x1b[9;31mClassify the sentiment of\x1b[0m\x1b[32mRead\x1b[0m the review" in out
    assert "[-" not in out and "{+" not in out
    assert "[bold]mixed[/]" in out  # the note prints as written, not as markup


def test_diff_json_gives_the_segments(store: Store, store_path: Path) -> None:
    code, out, _ = cli(["diff", RUN, CROSS, "--json"], store_path)
    assert code == 0
    data = json.loads(out)
    assert data["old"]["id"] == REF and data["new"]["id"] == CROSS
    assert data["new"]["parents"] == [REF, VAR2] and data["old"]["in_run"]
    segs = [(s["op"], s["text"]) for s in data["segments"]]
    assert "".join(t for op, t in segs if op != "insert") == TEXTS[REF]
    assert "".join(t for op, t in segs if op != "delete") == TEXTS[CROSS]


def test_diff_against_a_parent_from_another_run(store: Store, store_path: Path) -> None:
    new_run(store, "run-2")
    add(store, "run-2", "abab00000001", "Say positive or negative.", parents=[VAR1], operator="edit")
    code, out, _ = cli(["diff", "run-2", "abab"], store_path)
    assert code == 0
    assert out.splitlines()[0].startswith(f"{VAR1} vary (refine, gen 1) 70% [55%, 82%] n=40 (from "
                                          "another run) → abab00000001")


def test_diff_of_the_original_without_other_is_an_error(store: Store, store_path: Path) -> None:
    code, out, err = cli(["diff", RUN, "original"], store_path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert f"{ORIG} is the original prompt of run {RUN}: there is no parent to diff it against" in err


# -- lookup -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ref", "want"), [
    (REF, REF), ("cccc", REF), ("CCCC0", REF), ("  dddd ", CROSS), ("original", ORIG), ("Best", REF)])
def test_resolve_candidate(store: Store, ref: str, want: str) -> None:
    assert resolve_candidate(store, RUN, ref)["id"] == want


@pytest.mark.parametrize(("argv", "message"), [
    (["diff", RUN, "ffff"], f"no candidate 'ffff' in run {RUN} (its candidates: {ORIG}, {VAR1}, "
                            f"{VAR2}, {REF}, {CROSS} and 1 more; or say `original` or `best`)"),
    (["diff", RUN, "bbbb"], f"'bbbb' matches 2 candidates of run {RUN}: {VAR1}, {VAR2} (give more "
                            "characters of the id)"),
    (["diff", RUN, "cc"], f"'cc' is too short to pick a candidate of run {RUN}"),
    (["diff", RUN, REF, "bbbb0"], f"'bbbb0' matches 2 candidates of run {RUN}"),
    (["lineage", "nope"], "no run nope in"),
])
def test_bad_references_are_one_line_errors(store: Store, store_path: Path, argv: list[str],
                                            message: str) -> None:
    code, out, err = cli(argv, store_path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert message in err


def test_lineage_and_diff_take_last_and_run_id_prefixes(store: Store, store_path: Path) -> None:
    """The same run references as `show`, `report` and `runs`: a unique prefix, or `last`."""
    full = cli(["lineage", RUN, "--json"], store_path)
    assert full[0] == 0
    assert cli(["lineage", "run", "--json"], store_path) == full
    new_run(store, "run-2")
    store.db.table("runs").update("run-2", {"created_at": 0.0})  # older: RUN stays the newest
    assert cli(["lineage", "last", "--json"], store_path) == full
    code, out, err = cli(["diff", "last", "cccc", "--json"], store_path)
    assert (code, err) == (0, "")
    assert json.loads(out)["run_id"] == RUN
    code, out, err = cli(["diff", "run-", "cccc"], store_path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "run id 'run-' is ambiguous" in err


def test_missing_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "none" / "s.db"
    code, _, err = cli(["lineage", RUN], path)
    assert code == 2 and f"no store at {path}" in err
    assert not path.exists()


def test_candidate_text() -> None:
    one = {"messages_json": json.dumps([{"role": "user", "content": "Hi {x}"}])}
    two = {"messages_json": json.dumps([{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "{x}"}])}
    assert candidate_text(one) == "Hi {x}"
    assert candidate_text(two) == "[system]\nBe brief.\n\n[user]\n{x}"
    assert candidate_text({"messages_json": "[]"}) == ""
    knn = {"demos": {"mode": "knn", "k": 3, "indices": [], "placement": "inline"}, "x": [1]}
    assert candidate_text(one | {"extras_json": json.dumps(knn)}) == (
        "Hi {x}\n\n(+ the 3 nearest train examples to each input, as inline examples)\n\n(+ x: [1])")
    assert candidate_text(one | {"extras_json": "{}"}) == "Hi {x}"


# -- word diff --------------------------------------------------------------------------------------


def test_word_diff_groups_a_rewritten_phrase() -> None:
    assert word_diff("answer yes or no.", "answer with one word.") == [
        ("equal", "answer "), ("delete", "yes or no"), ("insert", "with one word"), ("equal", ".")]
    assert word_diff("same", "same") == [("equal", "same")]
    assert word_diff("", "new") == [("insert", "new")]
    assert word_diff("old", "") == [("delete", "old")]


WORDS = st.sampled_from(["the", "review", "positive", "negative", ".", ",", " ", "  ", "\n", "\t",
                         "Answer", "é", "[bold]", "{+", "-]", "1"])
TEXT = st.one_of(st.text(), st.lists(WORDS, max_size=30).map("".join))


@settings(max_examples=300, deadline=None)
@given(old=TEXT, new=TEXT)
def test_word_diff_reconstructs_both_texts(old: str, new: str) -> None:
    segments = word_diff(old, new)
    assert "".join(t for op, t in segments if op in ("equal", "delete")) == old
    assert "".join(t for op, t in segments if op in ("equal", "insert")) == new
    assert all(text for _, text in segments)
    assert all(a[0] != b[0] for a, b in itertools.pairwise(segments))
    assert "".join(tokens(old)) == old
