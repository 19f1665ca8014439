"""The tuning loop: baseline → propose → evaluate → refine the best → pick and explain the winner.

The original prompt is always a candidate and wins ties, so a run never returns something that
measured worse than the input. Every proposal, answer, score and model response is written to the
store as it arrives; the budget is checked before each call and a run that meets it finishes with
what it measured.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import secrets as pysecrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import plugins
from .attribution import attribute
from .budget import Budget
from .candidate import Candidate
from .config import Secrets, Settings, load_secrets
from .errors import (
    BudgetExhausted,
    ConfigError,
    PromptTunerError,
    ReportNotWritten,
    TaskError,
    first_user_error,
)
from .evaluator import Evaluation, Evaluator, ExampleResult
from .events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    EventHandler,
    ExampleScored,
    ModelCalled,
    PhaseStarted,
    Progress,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from .faithful import FaithfulnessCheck
from .human import HumanPrompts
from .metrics import make_scorer
from .metrics.stats import sign_test
from .models import ModelHub
from .models.base import Completion, Request
from .outcome import Confirmation, Measured, outcome
from .plan import answer_tokens, check_budget, fit_dev
from .processors import target_pipeline
from .racing import Racing
from .render import DemoPool
from .result import TuneResult
from .review import (
    Reviewer,
    RoundDecision,
    RoundReview,
    review_entries,
)
from .run_files import write_run_files
from .safety import ModerationModel, SafetyScreen
from .screening import Predicted, Screening, most_promising_first
from .selection import Pick, PriceFn, cut_short_winner, pick
from .splits import auto_splits
from .store import Store
from .strategies import Scored, Strategy, StrategyContext, get_strategy
from .task import Example, Task
from .templates import TemplateLibrary
from .warmstart import STRATEGY as WARM
from .warmstart import TRANSFER

log = logging.getLogger(__name__)
ATTRIBUTION_EXAMPLES = 32  # dev examples the budget keeps back for taking the winner apart


def new_run_id() -> str:
    """A new run's id: when it started, and six random hex digits.

    Examples:
        >>> import re
        >>> from core import new_run_id
        >>> bool(re.fullmatch(r"\\d{8}-\\d{6}-[0-9a-f]{6}", new_run_id()))
        True
    """
    return time.strftime("%Y%m%d-%H%M%S") + "-" + pysecrets.token_hex(3)


class TuneRun:
    def __init__(self, task: Task, settings: Settings, secrets: Secrets, store: Store,
                 on_event: EventHandler | None, use_cache: bool, run_id: str | None,
                 resume: bool = False, reviewer: Reviewer | None = None) -> None:
        self.task = task
        self.settings = settings
        self.store = store
        self.on_event = on_event
        self.run_id = run_id or new_run_id()
        self.resume = resume
        self.budget = Budget(settings.budget)
        replay = replay_from_store(store, self.run_id) if resume else None
        self._history_before: float | None = None
        self.hub = ModelHub(settings, secrets, budget=self.budget, use_cache=use_cache,
                            on_call=self._record_response, replay=replay,
                            history=self._earlier_answer if settings.cache.history else None)
        self.templates = TemplateLibrary()
        self.evaluations: dict[str, Evaluation] = {}   # on dev
        self.heldout: dict[str, Evaluation] = {}       # on test (the confirmation)
        self._current: dict[str, Evaluation] = {}      # where each candidate's answers go now
        self.pruned: set[str] = set()
        self.racing = Racing(store, self.run_id, self.evaluations, self.pruned,
                             settings.tune.rungs, settings.tune.seed)
        self.attribution = ""                            # what carries the winner's gain
        self.pick_reason = ""                            # why the pick is not the top score
        self.original = Candidate(task.messages)
        self.human = HumanPrompts(task, self.original, lambda message, level: self.emit(
            RunWarning(self.run_id, message, level=level)))
        self.reviewer = reviewer
        self.round = 0                                   # the round now running (0: baseline)
        self.made_in: dict[str, int] = {}                # candidate id -> the round that made it
        self.dropped: set[str] = set()                   # taken out by a person
        # resumed: the rounds already reviewed, with what the reviewer decided (None: accepted)
        self.reviewed: dict[int, dict[str, Any] | None] = {
            r["round"]: json.loads(r["decision_json"]) if r["decision_json"] else None
            for r in store.rounds(self.run_id) if r["round"] > 0} if resume else {}
        self._split: dict[str, str] = {}                 # candidate id -> split now being scored
        self._last_progress = 0.0
        self.seen: set[str] = set()
        self.warnings: list[str] = []
        self.started = time.monotonic()
        self.safety = SafetyScreen(settings.safety)

    # -- plumbing ----------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if isinstance(event, RunWarning):
            if event.level == "warning":
                self.warnings.append(event.message)
                log.warning("%s", event.message)
            else:
                log.info("%s", event.message)
        if self.on_event is not None:
            self.on_event(event)
        plugins.observe(event)

    def _earlier_answer(self, key: str) -> Completion | None:
        """What an earlier run in the store was answered for this very request (as of this
        run's start, so a resumed run decides as its first leg did)."""
        if self._history_before is None:
            row = self.store.get_run(self.run_id)
            if row is None:
                return None
            self._history_before = float(row["created_at"])
        got = self.store.earlier_response(key, before=self._history_before,
                                          exclude_run=self.run_id)
        return None if got is None else _completion(got)

    def _record_response(self, spec: str, key: str, request: Request, comp: Completion) -> None:
        self.store.record_response(self.run_id, spec, key, request.key_dict(), comp.to_json())
        if self.on_event is None:
            return
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        self.emit(ModelCalled(self.run_id, spec, key[:12], comp.prompt_tokens,
                              comp.completion_tokens, round(comp.latency_s, 4), comp.finish_reason,
                              _preview(last_user), _preview(comp.text)))
        self._progress()

    def _totals(self) -> Progress:
        calls = hits = retries = failures = p_tok = c_tok = 0
        cost = 0.0
        for client in self.hub.clients():
            u = client.usage
            calls, hits, retries = calls + u.calls, hits + u.cache_hits, retries + u.retries
            failures, cost = failures + u.failures, cost + u.cost
            p_tok, c_tok = p_tok + u.prompt_tokens, c_tok + u.completion_tokens
        lim = self.settings.budget
        return Progress(self.run_id, calls, hits, retries, failures, p_tok, c_tok, cost,
                        time.monotonic() - self.started, lim.max_calls, lim.max_cost,
                        lim.max_tokens)

    def _progress(self, force: bool = False) -> None:
        """Tell the fronts what has been spent (at most 10 times a second unless forced)."""
        if self.on_event is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= 0.1:
            self._last_progress = now
            self.emit(self._totals())

    def _record_result(self, cand: Candidate, ex: Example, res: ExampleResult, key: str) -> None:
        self.store.record_evaluation(self.run_id, cand.id, res.index, inputs=ex.inputs,
                                     expected=ex.expected, answer=res.answer, score=res.score,
                                     reason=res.reason, response_key=key, parts=res.parts,
                                     outcome=res.outcome, split=self._split.get(cand.id, "dev"))
        ev = self._current[cand.id]  # filled in place by the evaluator
        self.emit(ExampleScored(self.run_id, cand.id, len(ev.results), ev.planned, res.score))
        self._progress()

    # -- data ---------------------------------------------------------------------------------
    def _splits(self) -> Splits:
        """Where demonstrations come from (train), what the search is scored on (dev), and what
        confirms the winner (test, never seen by the search)."""
        s, task = self.settings.tune, self.task
        if not task.examples:  # quick form: judge several sampled answers per candidate
            samples = tuple(Example(inputs={}, meta={"sample": i}) for i in range(s.samples))
            return Splits((), samples, samples, heldout=False)
        names = task.splits
        if not names and len(task.examples) >= s.auto_split_min:
            names = auto_splits([e.expected for e in task.examples],
                                stratify=task.resolved_metric() == "label", seed=s.seed)
            self.emit(RunWarning(self.run_id, f"the task has no splits: using a seeded 40/30/30 "
                                 f"train/dev/test split of its {len(task.examples)} examples",
                                 level="info"))

        def pick(name: str) -> tuple[Example, ...]:
            return tuple(task.examples[i] for i in names.get(name, ()))

        train, dev, test = pick("train"), pick("dev"), pick("test")
        if not names:  # too few to hold any out: search and report on the same examples
            train, dev, test = (), task.examples, ()
        elif not dev:  # train only (or train + test): search on train, no demonstrations
            train, dev = (), train
        if not dev:
            raise TaskError(f"{task.source}: the dev (or train) split is empty",
                            "give dev or train fractions in `splits`")
        limit = fit_dev(len(dev), self.settings, self.task.uses_judge(), len(test))
        if len(dev) > limit:
            picked = sorted(random.Random(s.seed).sample(range(len(dev)), limit))
            dev = tuple(dev[i] for i in picked)
        return Splits(train, dev, test or dev, heldout=bool(test))

    # -- candidates ---------------------------------------------------------------------------
    def _admit(self, proposals: Sequence[Candidate | None],
               rejected: Mapping[str, str] | None = None) -> list[Candidate]:
        """Deduplicate (by normalized text, demos and answer line), store, announce. A proposal
        in ``rejected`` (id -> why) is stored with status "rejected" and never scored."""
        fresh = []
        refused = []
        for cand in proposals:
            if cand is None or cand.dedup_key in self.seen:
                continue
            self.seen.add(cand.dedup_key)
            why = (rejected or {}).get(cand.id)
            self.made_in[cand.id] = self.round
            self.store.add_candidate(self.run_id, self.task.name, candidate_id=cand.id,
                                     messages=cand.to_json(), parents=list(cand.parents),
                                     strategy=cand.strategy, operator=cand.operator,
                                     generation=cand.generation,
                                     note=cand.note if why is None else f"rejected: {why}",
                                     extras=cand.extras(), round=self.round)
            if why is not None:
                self.store.set_candidate_status(self.run_id, cand.id, "rejected")
                log.info("rejected %s before scoring: %s", cand.id, why)
                refused.append(why)
                continue
            fresh.append(cand)
            self.emit(CandidateProposed(self.run_id, cand.id, cand.operator, cand.parents,
                                        cand.text()[:200]))
        if refused:
            self.emit(RunWarning(self.run_id, f"round {self.round}: {len(refused)} proposal"
                                 f"{'s' if len(refused) > 1 else ''} rejected before scoring "
                                 f"({'; '.join(refused)})", level="info"))
        return fresh

    async def _warm(self, ctx: StrategyContext) -> list[Candidate]:
        """Round 1's candidates from earlier runs on similar tasks (``core.warmstart``), checked
        for faithfulness and admitted like proposals."""
        made, said = await self.screening.warm(ctx.pool.examples if ctx.pool else ())
        made = [c for c in made if c.dedup_key not in self.seen]
        if not made:
            return []
        self.emit(RunWarning(self.run_id, said, level="info"))
        known = {e.candidate.id: e.candidate for e in self.evaluations.values()}
        return self._admit(made, await self.faithful.screen(made, known))

    async def _propose(self, strategy: Strategy, ctx: StrategyContext, n: int) -> list[Candidate]:
        """The strategy's new proposals that pass the screening (``core.screening``: faithful
        to the task, no near-duplicate of a measured prompt, no confident predicted loser);
        when some are rejected it is asked again for as many, ``tune.faithfulness_retries``
        times at most. The most promising by the score predictor come first."""
        fresh: list[Candidate] = []
        predictions: Predicted = {}
        for retry in range(self.settings.tune.faithfulness_retries + 1):
            ctx.retry = retry
            made = [c for c in await strategy.step(ctx, n - len(fresh))
                    if c is not None and c.dedup_key not in self.seen]
            known = {e.candidate.id: e.candidate for e in self.evaluations.values()}
            measured = [e.candidate for e in self.evaluations.values() if e.results]
            rejected, predicted = await self.screening.screen(made, known, measured)
            fresh += self._admit(made, rejected)
            self.screening.record(made, predicted)
            predictions.update(predicted)
            if not rejected or len(fresh) >= n:
                break
        ctx.retry = 0
        return most_promising_first(fresh, predictions)

    async def _score(self, evaluator: Evaluator, cands: Sequence[Candidate],
                     examples: Sequence[Example], upto: int | None = None,
                     table: dict[str, Evaluation] | None = None) -> None:
        """Score candidates (concurrently) on the first ``upto`` examples, growing their
        evaluations; store and announce each once it has all it was asked for."""
        table = self.evaluations if table is None else table

        async def one(cand: Candidate) -> None:
            ev = table.get(cand.id)
            if ev is None:
                ev = table[cand.id] = Evaluation(cand, planned=len(examples))
            self._current[cand.id] = ev
            self._split[cand.id] = "test" if table is self.heldout else "dev"
            await evaluator.evaluate(cand, examples, ev, upto=upto)
            est = ev.estimate(self.settings.tune.seed)
            status = "partial" if ev.partial else (
                "evaluated" if len(ev.results) >= len(examples) else "racing")
            if table is self.evaluations:
                self.store.set_candidate_score(self.run_id, cand.id, score=est.mean, low=est.low,
                                               high=est.high, n=est.n, status=status)
            self.emit(EvaluationDone(self.run_id, cand.id, est, ev.partial))

        async with asyncio.TaskGroup() as group:
            for cand in cands:
                group.create_task(one(cand))

    def _scored(self, n_dev: int) -> list[Evaluation]:
        """Fully scored, unpruned candidates, best first: mean, then the original (it wins
        ties), then the shorter prompt."""
        done = [e for e in self.evaluations.values()
                if not e.partial and len(e.results) >= n_dev and e.candidate.id not in self.pruned]
        return sorted(done, key=lambda e: (-e.mean(), e.candidate.id != self.original.id,
                                           len(e.candidate.text()), e.candidate.id))

    # -- the loop -----------------------------------------------------------------------------
    async def execute(self) -> TuneResult:
        s = self.settings
        roles = s.models
        # before anything is stored or sent: a refused prompt or a bad processor is one line
        self.safety.screen_prompt(self.task.messages, self.task.source or self.task.name)
        pipeline = target_pipeline(s, self.task)
        if s.safety.moderation:
            self.safety.moderator = ModerationModel(self.hub.get(s.safety.moderation),
                                                    self.templates, s.tune.seed)
        target = self.hub.get(roles.target)
        optimizer = self.hub.get(roles.optimizer)
        metric_name = "+".join(spec.label for spec in self.task.metric_specs())
        judge = self.hub.get(roles.judge) if self.task.uses_judge() else None
        metric = make_scorer(self.task, judge, self.templates, seed=s.tune.seed)
        strategy = get_strategy(s.tune.strategy)
        splits = self._splits()
        per_example = 1 + sum(int(spec.params().get("repeats", 1)) for spec in
                              self.task.metric_specs() if spec.type == "judge")
        warning = check_budget(len(splits.dev), s, judge is not None,
                               len(splits.test) if splits.heldout else 0)
        if warning is not None:
            self.emit(RunWarning(self.run_id, warning))
        if self.resume:
            self.store.reopen_run(self.run_id)
        else:
            self.store.create_run(self.run_id, task_name=self.task.name,
                                  task=self.task.model_dump(mode="json"),
                                  settings=s.model_dump(mode="json"), target=roles.target,
                                  optimizer=roles.optimizer, judge=roles.judge,
                                  metric=metric_name)
        pool = DemoPool(splits.train) if splits.train else None
        evaluator = Evaluator(target, metric, concurrency=s.tune.concurrency,
                              max_tokens=s.tune.answer_max_tokens or answer_tokens(self.task),
                              seed=s.tune.seed, sample_temperature=s.tune.sample_temperature,
                              on_result=self._record_result, pool=pool, pipeline=pipeline,
                              safety=self.safety)
        ctx = StrategyContext(self.task, optimizer, self.templates, s.tune.seed,
                              s.tune.optimizer_temperature, s.tune.proposal_max_tokens,
                              examples=splits.dev, pool=pool, refine_top=s.tune.refine_top)
        self.faithful = FaithfulnessCheck(
            self.task, mode=s.tune.faithfulness, threshold=s.tune.faithfulness_threshold,
            train=splits.train or splits.dev, optimizer=optimizer, templates=self.templates,
            seed=s.tune.seed)
        self.screening = Screening(self.task, s, self.store, self.run_id, self.faithful,
                                   self.original)
        await self.screening.learn()  # what earlier runs teach, as of this run's start
        original = self.original
        held_test = 2 * len(splits.test) * per_example if splits.heldout else 0
        # the winner's parts (instruction alone, demonstrations alone) are measured after the
        # search: keep their share back too, when it is a small part of what the search has
        parts = 2 * per_example * min(len(splits.dev), ATTRIBUTION_EXAMPLES) if splits.train else 0
        left = self.budget.remaining_calls()
        if left is not None and parts * 5 > left - held_test:
            parts = 0
        self.budget.hold(held_test + parts)
        status = "finished"
        try:
            self._admit([original])
            self.emit(PhaseStarted(self.run_id, "baseline", len(splits.dev), "the original prompt"))
            await self._score(evaluator, [original], splits.dev)
            if self.evaluations[original.id].partial:
                raise BudgetExhausted("the budget ran out before the original prompt was scored",
                                      "raise --max-calls")
            if not self.resume or not self.store.rounds(self.run_id):
                self._record_round(0, self.evaluations[original.id])
            await self._search(strategy, ctx, evaluator, splits)
        except* BudgetExhausted as group:
            status = "budget_exhausted"
            first = group.exceptions[0]
            self.emit(RunWarning(self.run_id, f"stopped early: {first}"))
            if original.id not in self.evaluations or self.evaluations[original.id].partial:
                raise
        if status == "finished" and any(e.partial for e in self.evaluations.values()):
            # The evaluator swallows BudgetExhausted (it keeps what was paid for): a run whose
            # last evaluation was cut short would otherwise claim it finished.
            status = "budget_exhausted"
            self.emit(RunWarning(self.run_id, "stopped early: the budget ran out while scoring "
                                           "a candidate"))
        chosen = self._pick(len(splits.dev), target.price,
                            cut=status == "budget_exhausted")
        self.budget.hold(held_test)  # the parts' share is theirs now
        taken_apart = await attribute(
            chosen.chosen, original, self.evaluations, splits.dev, per_example=per_example,
            remaining=self.budget.remaining_calls(), admit=self._admit, alpha=s.tune.alpha,
            score=lambda cands, dev: self._score(evaluator, cands, dev), seed=s.tune.seed)
        self.attribution = taken_apart.text
        self.budget.release()
        confirmation = await self._confirm(evaluator, splits, taken_apart.prefer or chosen.chosen)
        return await self._finalize(status, splits, confirmation)

    async def _search(self, strategy: Strategy, ctx: StrategyContext, evaluator: Evaluator,
                      splits: Splits) -> None:
        s = self.settings.tune
        dev = splits.dev
        quiet = 0
        for number in range(1, s.rounds + 1):
            self.round = number
            incumbent = self._scored(len(dev))[0]
            ctx.round = number
            ctx.best = Scored(incumbent.candidate, incumbent)
            ctx.history = [Scored(e.candidate, e) for e in self.evaluations.values()
                           if e.results and e.candidate.id not in self.pruned]
            self.emit(PhaseStarted(self.run_id, "propose", s.variations,
                                   f"{strategy.name}: new candidates from {incumbent.candidate.id}",
                                   round=number))
            warm = await self._warm(ctx) if number == 1 else []
            proposed = warm + await self._propose(strategy, ctx, max(1, s.variations - len(warm)))
            if proposed:
                self.emit(PhaseStarted(self.run_id, "evaluate", len(proposed) * len(dev),
                                       round=number))
                await self.racing.race(lambda c, d, upto: self._score(evaluator, c, d, upto),
                                       proposed, dev, incumbent)
            if number in self.reviewed:  # resumed: this round's review is on record
                decision = await self._replay_decision(self.reviewed.pop(number), evaluator, dev)
            elif self.reviewer is not None:
                decision = await self._review(number, evaluator, dev, proposed)
            else:
                decision = None
            best = self._scored(len(dev))[0]
            self._record_round(number, best, decision)
            self.emit(RoundFinished(self.run_id, number, best.candidate.id,
                                    best.estimate(s.seed)))
            if decision is not None and decision.stop:
                self.emit(RunWarning(self.run_id, f"stopped after round {number}: asked to by "
                                     "the reviewer", level="info"))
                break
            gained = False
            if best.candidate.id != incumbent.candidate.id:
                shared = sorted(incumbent.results.keys() & best.results.keys())
                _, _, p = sign_test([incumbent.results[i].score for i in shared],
                                    [best.results[i].score for i in shared])
                gained = p < s.alpha
            quiet = 0 if gained else quiet + 1
            patience = self._patience(best.candidate)
            if quiet >= patience and number < s.rounds:
                self.emit(RunWarning(self.run_id, f"stopping after round {number}: {quiet} rounds "
                                     "without a significant gain on the dev examples"
                                     + ("" if patience == s.patience else
                                        " (the best is an earlier run's winner on this task)"),
                                     level="info"))
                break

    def _patience(self, best: Candidate) -> int:
        """Rounds without a gain before the search stops. When the best is an earlier run's
        winning prompt carried over by the warm start, that run has done this search already:
        one round that cannot beat it ends this one."""
        if best.strategy == WARM and best.operator == TRANSFER:
            return 1
        return self.settings.tune.patience

    def _record_round(self, number: int, best: Evaluation,
                      decision: RoundDecision | None = None) -> None:
        est = best.estimate(self.settings.tune.seed)
        t = self._totals()
        self.store.record_round(
            self.run_id, number, best_id=best.candidate.id, score=est.mean, low=est.low,
            high=est.high, n=est.n, candidates=len(self.evaluations), calls=t.calls,
            cache_hits=t.cache_hits, tokens=t.tokens, cost=t.cost, elapsed_s=round(t.elapsed_s, 3),
            decision=decision.to_json() if decision is not None and not decision.empty else None)

    async def _review(self, number: int, evaluator: Evaluator, dev: Sequence[Example],
                      proposed: Sequence[Candidate]) -> RoundDecision:
        """Show the round to the reviewer and carry out what they decide; repeat while they add
        or edit prompts (they see the new ones scored before they accept the round)."""
        assert self.reviewer is not None
        total = RoundDecision()
        while True:
            ranked = self._scored(len(dev))
            entries = review_entries(ranked, self.evaluations, pruned=self.pruned,
                                     dropped=self.dropped, made_in=self.made_in,
                                     original_id=self.original.id, number=number,
                                     seed=self.settings.tune.seed)
            review = RoundReview(self.run_id, number, self.settings.tune.rounds, tuple(entries),
                                 ranked[0].candidate.id, self._totals().calls,
                                 self.settings.budget.max_calls, tuple(sorted(self.human.inputs())))
            got = self.reviewer(review)
            decision: RoundDecision = await got if inspect.isawaitable(got) else got
            total.merge(decision)
            made = await self._carry_out(decision, evaluator, dev)
            if not made or decision.stop:
                return total

    async def _carry_out(self, decision: RoundDecision, evaluator: Evaluator,
                         dev: Sequence[Example]) -> list[Candidate]:
        """Drop, then score the reviewer's prompts on dev; returns the prompts it scored."""
        self._drop(decision.drop)
        made = self._human_candidates(decision)
        if made:
            self.emit(PhaseStarted(self.run_id, "evaluate", len(made) * len(dev),
                                   "the reviewer's prompts", round=self.round or None))
            await self._score(evaluator, made, dev)
        return made

    async def _replay_decision(self, stored: dict[str, Any] | None, evaluator: Evaluator,
                               dev: Sequence[Example]) -> RoundDecision | None:
        """A resumed run's round that was already reviewed: carry out what the reviewer decided
        then, step by step, instead of asking again."""
        if stored is None:
            return None
        decision = RoundDecision.from_json(stored)
        for step in decision.in_steps():
            await self._carry_out(step, evaluator, dev)
        return decision

    def _drop(self, ids: Sequence[str]) -> None:
        for cid in ids:
            if cid == self.original.id:
                self.emit(RunWarning(self.run_id, "the original prompt cannot be dropped: it is "
                                     "the baseline every candidate is compared with"))
                continue
            if cid not in self.evaluations:
                self.emit(RunWarning(self.run_id, f"no candidate {cid} to drop"))
                continue
            self.dropped.add(cid)
            self.pruned.add(cid)
            self.store.set_candidate_status(self.run_id, cid, "dropped")
            log.info("dropped %s by the reviewer", cid)

    def _human_candidates(self, decision: RoundDecision) -> list[Candidate]:
        """The reviewer's edits (children of what they rewrote) and prompts as candidates."""
        by_id = {e.candidate.id: e.candidate for e in self.evaluations.values()}
        made = self.human.from_decision(decision, by_id)
        fresh = self._admit(made)
        if len(fresh) < len([m for m in made if m is not None]):
            self.emit(RunWarning(self.run_id, "a prompt you gave is already a candidate; it was "
                                 "not added again"))
        return fresh

    def _pick(self, n_dev: int, price: PriceFn | None, *, cut: bool = False) -> Pick:
        """The search's winner (``core.selection``); its note says why when it was picked over
        a higher-scoring tie as the cheaper. When the budget ran out (``cut``) and no fully
        scored candidate beats the original, a candidate cut short that already beats it
        goes to the held-out check instead (``core.selection.cut_short_winner``)."""
        ranked = self._scored(n_dev) or [self.evaluations[self.original.id]]
        found = None
        if cut and ranked[0].candidate.id == self.original.id:
            rest = [e for e in self.evaluations.values() if e.candidate.id not in self.pruned]
            found = cut_short_winner(rest, self.evaluations[self.original.id], n_dev,
                                     alpha=self.settings.tune.alpha)
        chosen = found or pick(ranked, self.original.id, alpha=self.settings.tune.alpha,
                               seed=self.settings.tune.seed, price=price)
        self.pick_reason = chosen.reason
        if chosen.note:
            cand = chosen.chosen.candidate
            noted = replace(cand, note=f"{cand.note}; {chosen.note}" if cand.note else chosen.note)
            chosen.chosen.candidate = noted
            self.store.set_candidate_note(self.run_id, cand.id, noted.note)
        return chosen

    async def _confirm(self, evaluator: Evaluator, splits: Splits,
                       best: Evaluation) -> Confirmation:
        """The search's pick against the original on the held-out test split (when there is
        one); otherwise on the dev examples the search used, which proves less."""
        original = self.original
        if not splits.heldout:
            return Confirmation(self.evaluations[original.id], best, heldout=False)
        cands = [original] if best.candidate.id == original.id else [original, best.candidate]
        self.emit(PhaseStarted(self.run_id, "confirm", len(cands) * len(splits.test),
                               "the original and the best on held-out examples"))
        try:
            await self._score(evaluator, cands, splits.test, table=self.heldout)
        except* BudgetExhausted:
            self.emit(RunWarning(self.run_id, "the budget ran out during the held-out check"))
        orig_t = self.heldout.get(original.id)
        best_t = self.heldout.get(best.candidate.id)
        if orig_t is None or best_t is None or not orig_t.results or not best_t.results:
            return Confirmation(self.evaluations[original.id], best, heldout=False)
        return Confirmation(orig_t, best_t, heldout=True)

    async def _finalize(self, status: str, splits: Splits, conf: Confirmation) -> TuneResult:
        s = self.settings.tune
        self.emit(PhaseStarted(self.run_id, "finalize", None, "report"))
        self._progress(force=True)
        total = self.hub.usage()
        measured = Measured(
            run_id=self.run_id, task_name=self.task.name, status=status,
            original_id=self.original.id, evaluations=self.evaluations, heldout=self.heldout,
            pruned=frozenset(self.pruned), dropped=frozenset(self.dropped),
            splits={"train": len(splits.train), "dev": len(splits.dev),
                    "test": len(splits.test) if splits.heldout else 0},
            pick_reason=self.pick_reason, attribution=self.attribution)
        result = outcome(measured, conf, alpha=s.alpha, seed=s.seed, keep_best=s.keep_best,
                         usage=self.hub.stats(), calls=total.calls, cache_hits=total.cache_hits,
                         duration_s=time.monotonic() - self.started, warnings=list(self.warnings))
        result.safety = self.safety.summary()
        # off the event loop: the report embeds the candidates and reads the store's history
        unwritten = await asyncio.to_thread(
            write_run_files, result, self.store, self.settings.runs_dir() / self.run_id,
            self.templates)
        self.store.finish_run(self.run_id, status=status, original_id=self.original.id,
                              best_id=result.best.id, original_score=result.original.estimate.mean,
                              best_score=result.best.estimate.mean, result=result.to_json(),
                              report_path=result.report_path)
        self.emit(RunFinished(self.run_id, status, result.best.id,
                              {"baseline": result.original.estimate.mean,
                               "best": result.best.estimate.mean}))
        if unwritten is not None:
            raise unwritten
        return result


@dataclass(frozen=True)
class Splits:
    train: tuple[Example, ...]   # demonstrations come from here
    dev: tuple[Example, ...]     # the search is scored here
    test: tuple[Example, ...]    # the winner is confirmed here (= dev when nothing is held out)
    heldout: bool


def _preview(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _completion(row: Mapping[str, Any]) -> Completion:
    return Completion(
        text=row["text"] or "", prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0, latency_s=row["latency_s"] or 0.0,
        finish_reason=row["finish_reason"] or "stop", cached=True, model=row["model"] or "")


def replay_from_store(store: Store, run_id: str) -> dict[str, Completion]:
    """The answers a run already received, by request hash (every call is stored as it lands)."""
    return {row["key"]: _completion(row) for row in store.responses(run_id)}


async def tune(
    task: Task,
    settings: Settings,
    *,
    secrets: Secrets | None = None,
    on_event: EventHandler | None = None,
    use_cache: bool = True,
    store: Store | None = None,
    run_id: str | None = None,
    resume: bool = False,
    reviewer: Reviewer | None = None,
) -> TuneResult:
    """Tune ``task``'s prompt; every step is stored and reported through ``on_event``.

    ``resume=True`` with the ``run_id`` of an unfinished run carries it on: the run's stored
    answers are replayed (no model call is paid twice, cache or not) and it finishes under the
    same id. ``reviewer`` is asked after every round (see ``core.review``).

    Examples:
        A small run on the embedded model: the bundled task's first four examples, one round
        of one proposal, into a store of its own. A reviewer sees each round and may stop it:

        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import RoundDecision, RoundReview, Store, load_settings, load_task, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 2,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> settings = load_settings(flags=small).settings
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> seen = []
        >>> def stop_after_one(review: RoundReview) -> RoundDecision:
        ...     originals = [entry for entry in review.entries if entry.is_original]
        ...     seen.append((review.round, review.rounds, len(originals)))
        ...     return RoundDecision(stop=True)
        >>> result = asyncio.run(tune(task, settings, store=store, reviewer=stop_after_one))
        >>> result.status, result.task_name, seen  # round 1 of at most 2, the original among its entries
        ('finished', 'movie-sentiment', [(1, 2, 1)])
        >>> result.calls <= 30, result.original.estimate.n, result.heldout
        (True, 4, False)
        >>> result.best in result.candidates and (result.improved or result.best == result.original)
        True
        >>> store.close()
    """
    own_store = store is None
    store = store or Store(settings.store_file())
    if resume:
        if run_id is None:
            raise ConfigError("resuming needs the run id", "pass run_id")
        status = store.get_run(run_id)["status"]
        if status in ("finished", "budget_exhausted"):
            raise ConfigError(f"run {run_id} has already finished ({status})",
                              "start a new run instead")
    run = TuneRun(task, settings, secrets or load_secrets(settings), store, on_event, use_cache, run_id,
                  resume=resume, reviewer=reviewer)
    try:
        try:
            return await run.execute()
        except BaseExceptionGroup as group:
            raise first_user_error(group) from group
    except ReportNotWritten:
        raise  # the run finished and is stored as such; only its files are missing
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) \
            else "failed"
        _mark_failed(store, run.run_id, status, exc)
        raise
    finally:
        await run.hub.aclose()
        if own_store:
            store.close()


async def resume(run_id: str, settings: Settings, *, secrets: Secrets | None = None,
                 on_event: EventHandler | None = None, use_cache: bool = True,
                 store: Store | None = None, reviewer: Reviewer | None = None) -> TuneResult:
    """Finish an interrupted run (killed, crashed, cancelled) with the task and settings it
    started with; ``settings`` only says where the store is.

    Examples:
        A run whose reviewer fails after the first round is stored as failed; ``resume``
        finishes it under the same id, replaying the answers it had already paid for:

        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import Store, list_runs, load_settings, load_task, resume, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 1,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> settings = load_settings(flags=small).settings
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> def power_cut(review):
        ...     raise RuntimeError("power cut")
        >>> asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")), settings,
        ...                  store=store, reviewer=power_cut))
        Traceback (most recent call last):
        RuntimeError: power cut
        >>> [(run.status, run.candidates >= 2) for run in list_runs(store)]
        [('failed', True)]
        >>> run_id = list_runs(store)[0].id
        >>> result = asyncio.run(resume(run_id, settings, store=store))
        >>> result.run_id == run_id, result.status, list_runs(store)[0].status
        (True, 'finished', 'finished')
        >>> store.close()
    """
    own_store = store is None
    store = store or Store(settings.store_file())
    try:
        row = store.get_run(run_id)
        task = Task.model_validate_json(row["task_json"])
        saved = Settings.model_validate_json(row["settings_json"])
        return await tune(task, saved, secrets=secrets, on_event=on_event, use_cache=use_cache,
                          store=store, run_id=run_id, resume=True, reviewer=reviewer)
    finally:
        if own_store:
            store.close()


def _mark_failed(store: Store, run_id: str, status: str, exc: BaseException) -> None:
    try:
        store.get_run(run_id)
    except PromptTunerError:
        return  # failed before the run was created
    if status == "interrupted":
        message: Any = "interrupted by the user"
    else:
        message = str(exc) if isinstance(exc, PromptTunerError) else repr(exc)
    store.finish_run(run_id, status=status, error=message)
