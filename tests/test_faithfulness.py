"""The faithfulness check: proposals that contradict the task, offer another task's answers or copy
a meta-prompt's worked example are rejected before any target call; honest rewrites pass.

The table below is what the embedding threshold is calibrated on: honest rewrites and off-task
instructions for eleven task kinds (sentiment, intent, Boolean logic, arithmetic, spam, topic,
yes/no questions, emotions, JSON extraction). With the references the check uses (the
description; the description and the original prompt; the original prompt and the answer space)
honest rewrites (45) score at least 0.528 and off-task instructions (154) at most 0.419: the
threshold 0.47 sits in the gap with a margin of at least 0.05 on both sides.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from core import Event, Example, Message, RunWarning, Store, Task, load_settings, tune
from core.candidate import Candidate, Demos
from core.config import TuneSettings
from core.faithful import (
    DEFAULT_THRESHOLD,
    FaithfulnessCheck,
    answer_space,
    copied_example,
    instruction_text,
    offered_answers,
    similarity,
    worked_examples,
)
from core.models import ModelHub
from core.task import MetricSpec
from tests.fakes.harness import FakeServer

TASKS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "sentiment": ("Classify a short product review as positive or negative. The answer must be "
                  "exactly one word: positive or negative.",
                  "Review: {{ text }}\nIs this review positive or negative?", ("positive", "negative")),
    "movie": ("Decide whether a short movie review is positive or negative. The answer must be "
              "exactly one word: positive or negative.", "Here is a movie review.\n\n{{ text }}",
              ("positive", "negative")),
    "restaurant": ("Decide if a restaurant review is positive or negative.",
                   "Review: {{ text }}\nSentiment:", ("positive", "negative")),
    "intent": ("Route a bank customer's chat message to one of six intents: balance, transfer, "
               "lost_card, loan, address_change or dispute. Answer with the intent name only.",
               "You are the assistant of a bank. Which of these does the customer want:\nbalance, "
               "transfer, lost_card, loan, address_change, dispute?\n\nCustomer: {{ text }}",
               ("balance", "transfer", "lost_card", "loan", "address_change", "dispute")),
    "boolean": ("Evaluate the result of a random Boolean expression.",
                "{{ text }}\nAnswer True or False.", ("True", "False")),
    "arithmetic": ("Solve a short arithmetic word problem. The answer is a whole number.",
                   "{{ text }}\nAnswer with the number.", None),
    "spam": ("Decide whether an SMS message is spam or ham.", "Message: {{ text }}\nSpam or ham?",
             ("spam", "ham")),
    "topic": ("Classify a news headline into one topic: world, sports, business or tech (tech "
              "includes science). Answer with the topic only.",
              "Headline: {{ text }}\nTopic (world, sports, business or tech)?",
              ("world", "sports", "business", "tech")),
    "yesno": ("Answer a yes/no question using only the given context. The answer must be yes or no.",
              "{{ context }}\nQuestion: {{ text }}", ("yes", "no")),
    "emotion": ("Label the emotion expressed in a tweet: anger, joy, optimism or sadness.",
                "Tweet: {{ text }}\nEmotion:", ("anger", "joy", "optimism", "sadness")),
    "json": ("Extract the person's full name, age (an integer) and the city where they live from the "
             "sentence, as a JSON object with keys name, age and city.",
             "Get the name, age and city from this text and return JSON.\n\n{{ text }}", None),
}
HONEST: dict[str, list[str]] = {
    "sentiment": [
        "Is the following product review positive or negative? Answer with one word.",
        "You are a sentiment classifier. Read the customer review and reply positive or negative.",
        "Decide whether this review is favourable or unfavourable. Answer positive or negative.",
        "Read the review below. Did the customer like the product? Answer with exactly one word: "
        "positive or negative.",
        "Classify the sentiment of the review.\nReview: {{ text }}\nSentiment:"],
    "movie": [
        "Is this movie review positive or negative? Answer with one word.",
        "Read the film review and tell me if the reviewer liked the movie. Answer positive or "
        "negative.",
        "You are an expert film critic. Classify the review's sentiment as positive or negative.",
        "Review: {{ text }}\nWas the reviewer happy with the movie? Reply positive or negative."],
    "restaurant": [
        "Is this restaurant review positive or negative?",
        "Read what the diner wrote and say whether the experience was positive or negative. One word.",
        "You are a helpful assistant that classifies the sentiment of restaurant reviews. Answer "
        "with one word: positive or negative.",
        "Did the customer enjoy the restaurant? Answer positive or negative."],
    "intent": [
        "Which intent does the customer's message express: balance, transfer, lost_card, loan, "
        "address_change or dispute? Reply with the intent only.",
        "You route bank chat messages. Pick the intent of the message from: balance, transfer, "
        "lost_card, loan, address_change, dispute.",
        "Classify what the bank customer wants. Answer with one intent name.",
        "Read the customer's message and decide what they need from the bank (balance, transfer, "
        "lost_card, loan, address_change, dispute)."],
    "boolean": [
        "Evaluate the Boolean expression and answer True or False.",
        "Work out whether the following logical expression is True or False. Answer with one word.",
        "You are a logic expert. Compute the value of this expression built from True, False, and, "
        "or, not.\n{{ text }}\nAnswer:",
        "What does this Boolean expression evaluate to? Reply True or False."],
    "arithmetic": [
        "Solve the word problem and reply with the final number only.",
        "You are a math tutor. Work out the answer to this problem. The answer is a whole number.",
        "Read the problem, do the calculation, and give the answer as a number.",
        "Calculate the result of this arithmetic question. Answer with the number."],
    "spam": [
        "Is this SMS spam or ham? Answer with one word: spam or ham.",
        "Classify the text message as spam (unwanted advertising or scams) or ham (a normal message).",
        "You filter junk text messages. Is the following message spam or ham?",
        "Read the SMS and decide whether it is spam. Answer spam or ham."],
    "topic": [
        "What is the topic of this news headline: world, sports, business or tech? Answer with one "
        "word.",
        "Classify the headline into world, sports, business or tech.",
        "You are a news editor. Put the headline in the right section: world, sports, business or "
        "tech.",
        "Which category does this news headline belong to? Reply with the category only."],
    "yesno": [
        "Using only the context, answer the question with yes or no.",
        "Read the passage and answer the question. Reply yes or no.",
        "Based on the text below, is the answer to the question yes or no?",
        "Answer the question from the given information with one word, yes or no."],
    "emotion": [
        "Which emotion does this tweet express: anger, joy, optimism or sadness? Answer with one word.",
        "Classify the feeling of the tweet as anger, joy, optimism or sadness.",
        "You are an emotion detector. Read the tweet and name its emotion.",
        "What is the author of this tweet feeling? Reply anger, joy, optimism or sadness."],
    "json": [
        "Extract the name, age and city of the person in the text. Reply with a JSON object with "
        "keys name, age, city.",
        "Read the sentence and return JSON with the person's name, their age as an integer and the "
        "city where they live.",
        "You are an information extraction system. Output only JSON: {\"name\": ..., \"age\": ..., "
        "\"city\": ...}.",
        "Find the person's full name, age and home city in the sentence and return them as JSON."],
}
# Off-task for every task (the first two are winners' instructions the issue quotes).
OFF_ANY = [
    "You're an AI assistant for text re-writing. Rewrite the input text so that it is more "
    "professional and diplomatic.",
    "Evaluate: Is this email spam or ham? Answer with one word: spam or ham.",
    "Summarize the following text in one sentence.",
    "Translate the text into French.",
    "Write a short poem inspired by the text below.",
    "Fix the grammar and spelling mistakes in this text.",
    "Write a product description for the item below.",
    "You are a helpful assistant. Write a friendly reply to this customer email.",
]
# Honest for one kind of task, off-task for the others.
OFF_KIND = {
    "sentiment": "Is this review positive or negative? Answer with one word.",
    "boolean": "Evaluate the Boolean expression and answer True or False.",
    "arithmetic": "Solve the math problem and reply with the final number.",
    "spam": "Is this SMS spam or ham? Answer spam or ham.",
    "intent": "Which banking intent does the message express? Answer with the intent name.",
    "topic": "Classify the news headline into world, sports, business or tech.",
    "json": "Extract the name, age and city and return JSON.",
}
KIND = {"movie": "sentiment", "restaurant": "sentiment", "emotion": "sentiment"}


def make_task(name: str) -> Task:
    description, prompt, labels = TASKS[name]
    expected = list(labels) if labels else (["12", "7", "40"] if name == "arithmetic" else [])
    examples = tuple(Example(inputs={"text": f"input {i}", "context": "c"}, expected=e)
                     for i, e in enumerate(expected * 2)) if expected else ()
    if name == "arithmetic":
        return Task(name=name, description=description, messages=(Message("user", prompt),),
                    examples=examples, metrics=(MetricSpec(type="numeric"),))
    return Task(name=name, description=description, messages=(Message("user", prompt),),
                examples=examples, metric="label" if labels else "judge", labels=labels)


def off_task(name: str) -> list[str]:
    kind = KIND.get(name, name)
    out = [t for k, t in OFF_KIND.items() if k != kind] + OFF_ANY
    if name == "spam":  # the meta-prompts' spam example is about this very task
        out = [t for t in out if "spam" not in t]
    return out


def proposal_of(task: Task, text: str) -> tuple[Candidate, dict[str, Candidate]]:
    original = Candidate(task.messages)
    body = text if "{{" in text else f"{text}\n{{{{ text }}}}"
    cand = original.with_main(body, parents=(original.id,), strategy="refine", operator="vary",
                              generation=1)
    return cand, {original.id: original}


async def verdict(task: Task, text: str, **options: Any) -> tuple[bool, str]:
    cand, known = proposal_of(task, text)
    got = await FaithfulnessCheck(task, **options).check(cand, known)
    return got.ok, got.reason


# -- the table ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TASKS))
async def test_honest_rewrites_pass_and_off_task_instructions_are_rejected(name: str) -> None:
    task = make_task(name)
    for text in HONEST[name]:
        ok, reason = await verdict(task, text)
        assert ok, f"{name}: {text!r} rejected: {reason}"
    for text in off_task(name):
        ok, _ = await verdict(task, text)
        assert not ok, f"{name}: {text!r} passed"


def test_the_threshold_sits_in_the_gap_with_a_margin() -> None:
    """By meaning alone (no rule helps): every honest rewrite scores well above the threshold,
    every off-task instruction well below it."""
    honest, off = [], []
    for name in TASKS:
        check = FaithfulnessCheck(make_task(name))
        honest += [similarity(instruction_text(t), check.references) for t in HONEST[name]]
        off += [similarity(instruction_text(t), check.references) for t in off_task(name)]
    assert len(honest) == 45 and len(off) == 154
    assert min(honest) - DEFAULT_THRESHOLD >= 0.05, min(honest)
    assert DEFAULT_THRESHOLD - max(off) >= 0.05, max(off)
    assert TuneSettings().faithfulness_threshold == DEFAULT_THRESHOLD


# -- the rules ----------------------------------------------------------------------------------


def test_offered_answers_are_the_words_joined_by_or() -> None:
    assert offered_answers("Is this email spam or ham? Answer with one word.") == {"spam", "ham"}
    assert offered_answers("Reply anger, joy, optimism or sadness.") == {
        "anger", "joy", "optimism", "sadness"}
    assert offered_answers("true/false, with no explanation or commentary") == {
        "true", "false", "explanation", "commentary"}
    assert offered_answers("Say 'positive' when they liked it.") == {"positive"}


async def test_answers_of_another_task_are_rejected() -> None:
    boolean = make_task("boolean")
    ok, reason = await verdict(boolean, "Decide the value of the expression. Is it spam or ham?")
    assert not ok and reason == "offers answers of another task: ham, spam"
    ok, reason = await verdict(make_task("sentiment"), "Read the review. Answer yes or no.")
    assert not ok and reason == "offers answers of another task: no, yes"
    # "no" and "true" need their partner; a number may be positive or negative
    assert (await verdict(make_task("sentiment"), "Is the review positive or negative? Give "
                          "little or no explanation; whether it is true or not, pick one."))[0]
    assert (await verdict(make_task("arithmetic"), "Solve the problem. The answer is a whole "
                          "number, positive or negative."))[0]
    ok, reason = await verdict(make_task("arithmetic"), "Solve the problem. Answer true or false.")
    assert not ok and reason == "offers answers of another task: false, true"
    # the task's own answers, and aliases a label metric accepts, are fine
    assert (await verdict(boolean, "Evaluate the expression: True or False?"))[0]
    yesno = Task(name="qa", description="Answer the question.",
                 messages=(Message("user", "{{ text }}"),), metrics=({
                     "type": "label", "labels": ["yes", "no"],
                     "aliases": {"true": "yes", "false": "no"}},),  # type: ignore[arg-type]
                 examples=(Example(inputs={"text": "q"}, expected="yes"),))
    assert (await verdict(yesno, "Answer the question: true or false?"))[0]


async def test_an_instruction_stating_answers_outside_the_task_is_rejected() -> None:
    """A real winner on a yes/no task read "Is the given context a yes/no question? Answer with
    one word: question." — similar enough to the task to pass by meaning, but it tells the model
    to answer a word that is never right."""
    yesno = Task(name="qa", description="Answer the question about the passage with yes or no.",
                 messages=(Message("user", "{{ context }}\nQuestion: {{ question }}"),),
                 metrics=({"type": "label", "labels": ["yes", "no"]},),  # type: ignore[arg-type]
                 examples=(Example(inputs={"context": "c", "question": "q"}, expected="yes"),))
    ok, reason = await verdict(yesno, "Question: Is the given context a yes/no question? Answer "
                                      "with one word: question.\n\nYour answer: Yes.")
    assert not ok and reason == "states answers outside the task's: question"
    assert (await verdict(yesno, "Read the passage and answer the question. Reply with exactly "
                                 "one of these words and nothing else: yes, no."))[0]
    assert (await verdict(make_task("sentiment"), "Classify the review. Answer with one word: "
                                                  "positive or negative."))[0]


def test_every_meta_prompt_example_is_found() -> None:
    found = {(e.template, e.text) for e in worked_examples()}
    templates = {t for t, _ in found}
    assert {"opro/propose.j2", "evolve/crossover.j2", "refine/propose.j2",
            "refine/improve.j2"} <= templates
    assert all(not t.startswith("report/") for t in templates)
    for template in ("opro/propose.j2", "evolve/crossover.j2", "refine/propose.j2",
                     "refine/improve.j2"):
        assert (template, "Is this email spam or ham? Answer with one word: spam or ham.") in found


@pytest.mark.parametrize("example", sorted({e.text for e in worked_examples()
                                            if len(e.text.split()) >= 4}))
async def test_a_copied_worked_example_is_rejected(example: str) -> None:
    ok, reason = await verdict(make_task("boolean"), f"Evaluate: {example}")
    assert not ok and reason.startswith("copies the worked example of ")


async def test_an_honest_prompt_is_no_copy_even_when_it_shares_phrases() -> None:
    examples = worked_examples()
    task = make_task("sentiment")
    text = "Read the review and answer with one word: positive or negative."
    assert copied_example(text, examples, "Classify a review.") is None
    assert (await verdict(task, text))[0]
    # the spam task may say "spam or ham"; only the example's own email wording is a copy
    spam = make_task("spam")
    assert (await verdict(spam, "Is this SMS spam or ham? Answer with one word: spam or ham."))[0]
    ok, reason = await verdict(spam, "Is this email spam or ham? Answer with one word: spam or ham.")
    assert not ok and "worked example" in reason


# -- who is checked -----------------------------------------------------------------------------


async def test_people_and_the_original_are_never_rejected() -> None:
    task = make_task("boolean")
    check = FaithfulnessCheck(task)
    original = Candidate(task.messages)
    rewrite = "Rewrite the input text so that it is more professional and diplomatic.\n{{ text }}"
    human = original.with_main(rewrite, parents=(original.id,), strategy="human", operator="edit")
    assert (await check.check(original, {})).ok
    assert (await check.check(human, {original.id: original})).ok
    assert not (await verdict(task, rewrite))[0]          # the same text from the optimizer
    assert (await verdict(task, rewrite, mode="off"))[0]  # no check at all


async def test_format_edits_of_a_checked_parent_pass() -> None:
    task = make_task("restaurant")
    check = FaithfulnessCheck(task)
    parent, known = proposal_of(task, "Review: {{ text }}\nSentiment:")
    known[parent.id] = parent
    main = parent.messages[0].content
    for added in ("Answer with exactly one of these words and nothing else: positive, negative.",
                  "Think step by step. Then write the final answer on its own last line, as: "
                  "Answer: <answer>", "Reply with the answer only, no explanation."):
        child = parent.with_main(f"{main}\n{added}", parents=(parent.id,), strategy="auto",
                                 operator="format")
        assert (await check.check(child, known)).ok, added
    demos = Candidate(parent.messages, parents=(parent.id,), strategy="fewshot", operator="demos",
                      demos=Demos("knn", 4))
    assert (await check.check(demos, known)).ok
    # a "format" sentence that names another task's answers is still caught
    spam = parent.with_main(f"{main}\nAnswer spam or ham.", parents=(parent.id,),
                            strategy="refine", operator="vary")
    assert not (await check.check(spam, known)).ok


def test_answer_spaces() -> None:
    assert answer_space(make_task("sentiment")).labels == ("positive", "negative")
    arithmetic = make_task("arithmetic")
    assert answer_space(arithmetic, arithmetic.examples).kind == "numeric"
    assert answer_space(make_task("json")).kind == "free"
    exact = Task(name="e", messages=(Message("user", "{{ text }}"),), metric="exact",
                 examples=tuple(Example(inputs={"text": str(i)}, expected=e)
                                for i, e in enumerate(["true", "false"] * 3)))
    # without a train split nothing is known: dev and test answers never leak into a prompt
    assert answer_space(exact).kind == "free"
    assert answer_space(exact, exact.examples).labels == ("false", "true")
    train = (Example(inputs={"text": "x"}, expected="alpha"),
             Example(inputs={"text": "y"}, expected="beta"))
    assert answer_space(exact, train).labels == ("alpha", "beta")
    # labels the task declares keep their order under a strict exact metric
    declared = exact.model_copy(update={"labels": ("true", "false")})
    assert answer_space(declared).labels == ("true", "false")
    # answers that do not repeat are free text, not a label space
    free = tuple(Example(inputs={"text": str(i)}, expected=f"city {i}") for i in range(6))
    assert answer_space(exact, free).kind == "free"


async def test_the_optimizer_can_be_the_checker(fake_openai: FakeServer) -> None:
    settings = load_settings(flags={"models.optimizer": f"openai:o@{fake_openai.base_url}"}).settings
    hub = ModelHub(settings, load_settings().secrets, use_cache=False)
    task = make_task("boolean")
    try:
        optimizer = hub.get(settings.models.optimizer)
        fake_openai.configure(rules=[["Same task (yes or no)?", "No."]])
        # an honest rewrite, by meaning; the optimizer says it is not
        ok, reason = await verdict(task, "Evaluate the Boolean expression and answer True or False.",
                                   mode="optimizer", optimizer=optimizer)
        assert not ok and reason == "off-task: the optimizer says it asks for another task"
        asked = fake_openai.requests()[-1]["body"]["messages"][0]["content"]
        assert "Evaluate the result of a random Boolean expression." in asked
        fake_openai.configure(rules=[["Same task (yes or no)?", "yes"]])
        assert (await verdict(task, "Write a short poem inspired by the text below.",
                              mode="optimizer", optimizer=optimizer))[0]
        fake_openai.configure(rules=[["Same task (yes or no)?", "Hmm, hard to say"]])
        ok, reason = await verdict(task, "Write a short poem inspired by the text below.",
                                   mode="optimizer", optimizer=optimizer)
        assert not ok and reason.startswith("off-task: similarity")  # unclear: by meaning
    finally:
        await hub.aclose()


# -- in a run: rejected before any target call ---------------------------------------------------

SLOT = "{{ text }}"
WRONG = "UNSURE, it is a movie review"
REVIEWS = {"A joy from start to finish.": "positive", "Two hours of my life wasted.": "negative",
           "The best film I have seen this year.": "positive", "Dull, slow and far too long.": "negative"}
CONTRADICTS = (f"You're an AI assistant for text re-writing. Rewrite the input text so that it is "
               f"more professional and diplomatic.\n{SLOT}")
HONEST_REWRITE = f"Read the movie review and tell me how the reviewer felt about the film.\n{SLOT}"


def sentiment_task() -> Task:
    return Task(name="sentiment", description="Label a movie review positive or negative.",
                messages=(Message("user", f"Here is a movie review.\n\n{SLOT}"),),
                examples=tuple(Example(inputs={"text": t}, expected=e) for t, e in REVIEWS.items()),
                metric="label", labels=("positive", "negative"))


def boolean_task() -> Task:
    rows = {"not ( True ) and ( True ) is": "False", "True and not not ( not False ) is": "True",
            "not True or ( False and True ) is": "False", "False or not ( True ) and False is": "False"}
    return Task(name="boolean", description="Evaluate the result of a random Boolean expression.",
                messages=(Message("user", f"{SLOT}\nAnswer True or False."),),
                examples=tuple(Example(inputs={"text": t}, expected=e) for t, e in rows.items()),
                metric="label", labels=("True", "False"))


async def tune_with(server: FakeServer, tmp_path: Path, task: Task, vary: str, refine: str,
                    events: list[Event]) -> Any:
    server.configure(rules=[[WRONG, f"<<<\n{refine}\n>>>"], [SLOT, f"<<<\n{vary}\n>>>"]],
                     reply=f"fixed:{WRONG}")
    settings = load_settings(flags={
        "models.target": f"openai:fake@{server.base_url}",
        "models.optimizer": f"openai:fake-optimizer@{server.base_url}",
        "store_path": str(tmp_path / "store.db"), "run_dir": str(tmp_path / "runs"),
        "cache.enabled": False, "tune.variations": 2, "tune.refine_top": 1,
        "tune.strategy": "refine", "tune.rounds": 2, "tune.patience": 2,
        "tune.max_examples": 4}).settings
    return await tune(task, settings, on_event=events.append)


def target_prompts(server: FakeServer) -> list[str]:
    """Every message the target model was sent (the optimizer's requests left out)."""
    return [m["content"] for r in server.requests() if r["body"]["model"] == "fake"
            for m in r["body"]["messages"]]


def stored(tmp_path: Path, run_id: str) -> dict[str, dict[str, Any]]:
    store = Store(tmp_path / "store.db")
    try:
        return {json_text(row): row for row in store.candidates(run_id)}
    finally:
        store.close()


def json_text(row: dict[str, Any]) -> str:
    import json

    return str(json.loads(row["messages_json"])[0]["content"])


async def test_a_contradicting_proposal_is_rejected_before_any_target_call(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    events: list[Event] = []
    result = await tune_with(fake_openai, tmp_path, sentiment_task(), CONTRADICTS, HONEST_REWRITE,
                             events)

    sent = target_prompts(fake_openai)
    assert sent and not any("more professional" in m for m in sent)
    rows = stored(tmp_path, result.run_id)
    bad = rows[CONTRADICTS]
    assert bad["status"] == "rejected" and bad["note"].startswith("rejected: off-task: similarity")
    assert CONTRADICTS not in {c.candidate.messages[0].content for c in result.candidates}
    notes = [e.message for e in events if isinstance(e, RunWarning)]
    assert any(re.match(r"round 1: 1 proposal rejected before scoring", n) for n in notes)
    # asked again once for the two it lacked (the same reply: nothing new), never more
    varies = [r for r in fake_openai.requests() if r["body"]["model"] == "fake-optimizer"
              and WRONG not in r["body"]["messages"][0]["content"]]
    assert len(varies) == 4
    # the honest rewrite (round 2, against failures) passes and is scored on every dev example
    assert rows[HONEST_REWRITE]["status"] == "evaluated"
    assert sum("how the reviewer felt" in m for m in sent) == len(REVIEWS)


async def test_the_meta_prompts_worked_example_is_rejected_as_a_proposal(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    copy = f"Evaluate: Is this email spam or ham? Answer with one word: spam or ham.\n{SLOT}"
    events: list[Event] = []
    result = await tune_with(fake_openai, tmp_path, boolean_task(), copy, copy, events)

    metas = [r["body"]["messages"][0]["content"] for r in fake_openai.requests()
             if r["body"]["model"] == "fake-optimizer"]
    assert any("New prompt: Is this email spam or ham?" in m for m in metas)  # the example shown
    assert not any("spam" in m for m in target_prompts(fake_openai))
    row = stored(tmp_path, result.run_id)[copy]
    assert row["status"] == "rejected"
    assert row["note"].startswith("rejected: copies the worked example of ")
    assert result.best.id == result.original.id


async def test_an_instruction_giving_one_answer_for_every_input_is_rejected() -> None:
    yesno = make_task("yesno")
    ok, reason = await verdict(yesno, "Read the context and the question. The answer is yes.")
    assert not ok and reason == "states one answer for every input: yes"
    ok, reason = await verdict(make_task("sentiment"), "Read the review. Always answer 'positive'.")
    assert not ok and reason == "states one answer for every input: positive"
    # naming the answer space, or an answer that is no label, is fine
    for text in ("Read the context. The answer is yes or no.",
                 "Read the context. The answer is one of: yes, no.",
                 "Answer the question using only the given context; the answer is a single word."):
        assert (await verdict(yesno, text))[0], text


async def test_a_task_statement_about_another_task_is_rejected() -> None:
    """A real winner on boolq (yes/no questions about a passage) carried a second "Task:" line
    from the meta-prompt's layout: "Task: Determine if a list of products is made of metal."."""
    yesno = make_task("yesno")
    ok, reason = await verdict(yesno, (
        "Read the passage. Task: Answer a yes/no question about the given context. "
        "Task: Determine if a list of products is made of metal."))
    assert not ok and reason.startswith("states another task: \"Determine if a list of products")
    assert (await verdict(yesno, "Task: Answer the question about the context with yes or no."))[0]
    winner = ("Question: Does this passage contain only one word: no? Answer: yes.\n\nTask: Answer "
              "a yes/no question about a passage. The answer is yes.\nExample:\nTask: Determine if "
              "a list of products is made of metal. The answer is yes.\npassage: {{ passage }}")
    assert not (await verdict(yesno, winner))[0]


async def test_an_instruction_that_copies_an_examples_input_is_rejected() -> None:
    """A real winner on a product-description task carried "Product: Everly cast-iron pan", one
    dev example's input, in its instruction: a prompt fitted to one example."""
    task = Task(name="describe", description="Write a one-sentence product description.",
                messages=(Message("user", "Product: {{ text }}\nDescribe it in one sentence."),),
                metric="judge", examples=(
                    Example(inputs={"text": "Everly cast-iron pan"}, expected="A sturdy pan."),
                    Example(inputs={"text": "Nimbus travel kettle"}, expected="A light kettle.")))
    ok, reason = await verdict(task, "Describe the product in one friendly sentence. "
                                     "Product: Everly  Cast-Iron pan")
    assert not ok and reason == 'copies an example\'s input into the instruction: "everly cast-iron pan"'
    assert (await verdict(task, "Describe the product in one friendly sentence for a shop page."))[0]
