"""The tuning loop: baseline → propose → evaluate → refine the best → pick and explain the winner.

The original prompt is always a candidate and wins ties, so a run never returns something that
measured worse than the input. Every proposal, answer, score and model response is written to the
store as it arrives; the budget is checked before each call and a run that meets it finishes with
what it measured.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets as pysecrets
import time
from collections.abc import Sequence
from typing import Any

from .budget import Budget
from .candidate import Candidate
from .config import Secrets, Settings
from .errors import BudgetExhausted, ConfigError, PromptTunerError, TaskError
from .evaluator import Evaluation, Evaluator, ExampleResult
from .events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    EventHandler,
    ExampleScored,
    PhaseStarted,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from .metrics import make_scorer
from .metrics.stats import sign_test
from .models import ModelHub
from .models.base import Completion, Request
from .plan import answer_tokens, plan_calls
from .report.writer import write_reports
from .result import CandidateResult, TuneResult, explain
from .store import Store
from .strategies import StrategyContext, get_strategy
from .task import Example, Task
from .templates import TemplateLibrary

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + pysecrets.token_hex(3)


class TuneRun:
    def __init__(self, task: Task, settings: Settings, secrets: Secrets, store: Store,
                 on_event: EventHandler | None, use_cache: bool, run_id: str | None,
                 resume: bool = False) -> None:
        self.task = task
        self.settings = settings
        self.store = store
        self.on_event = on_event
        self.run_id = run_id or new_run_id()
        self.resume = resume
        self.budget = Budget(settings.budget)
        replay = replay_from_store(store, self.run_id) if resume else None
        self.hub = ModelHub(settings, secrets, budget=self.budget, use_cache=use_cache,
                            on_call=self._record_response, replay=replay)
        self.templates = TemplateLibrary()
        self.evaluations: dict[str, Evaluation] = {}
        self.seen: set[str] = set()
        self.warnings: list[str] = []
        self.started = time.monotonic()

    # -- plumbing ----------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if isinstance(event, RunWarning):
            self.warnings.append(event.message)
            log.warning("%s", event.message)
        if self.on_event is not None:
            self.on_event(event)

    def _record_response(self, spec: str, key: str, request: Request, comp: Completion) -> None:
        self.store.record_response(self.run_id, spec, key, request.key_dict(), comp.to_json())

    def _record_result(self, cand: Candidate, ex: Example, res: ExampleResult, key: str) -> None:
        self.store.record_evaluation(self.run_id, cand.id, res.index, inputs=ex.inputs,
                                     expected=ex.expected, answer=res.answer, score=res.score,
                                     reason=res.reason, response_key=key, parts=res.parts,
                                     outcome=res.outcome)
        ev = self.evaluations[cand.id]  # filled in place by the evaluator
        self.emit(ExampleScored(self.run_id, cand.id, len(ev.results), ev.planned, res.score))

    def _examples(self) -> list[Example]:
        if not self.task.examples:  # quick form: judge several sampled answers per candidate
            return [Example(inputs={}, meta={"sample": i}) for i in range(self.settings.tune.samples)]
        # The test split is never searched on: it is kept for confirming the winner.
        searched = [name for name in ("train", "dev") if name in self.task.splits]
        examples = list(self.task.examples) if not self.task.splits else [
            ex for name in searched for ex in self.task.split(name)]
        if not examples:
            raise TaskError(f"{self.task.source}: the train and dev splits are empty",
                            "give train/dev fractions in `splits`, or drop `splits`")
        limit = self.settings.tune.max_examples
        if limit is not None and len(examples) > limit:
            picked = sorted(random.Random(self.settings.tune.seed).sample(range(len(examples)),
                                                                          limit))
            examples = [examples[i] for i in picked]
        return examples

    def _admit(self, proposals: Sequence[Candidate | None]) -> list[Candidate]:
        """Deduplicate (by normalized text), store, announce."""
        fresh = []
        for cand in proposals:
            if cand is None or cand.dedup_key in self.seen:
                continue
            self.seen.add(cand.dedup_key)
            fresh.append(cand)
            self.store.add_candidate(self.run_id, self.task.name, candidate_id=cand.id,
                                     messages=cand.to_json(), parents=list(cand.parents),
                                     strategy=cand.strategy, operator=cand.operator,
                                     generation=cand.generation, note=cand.note)
            self.emit(CandidateProposed(self.run_id, cand.id, cand.operator, cand.parents,
                                        cand.text()[:200]))
        return fresh

    async def _evaluate(self, evaluator: Evaluator, cands: Sequence[Candidate],
                        examples: Sequence[Example]) -> None:
        async def one(cand: Candidate) -> None:
            ev = self.evaluations[cand.id] = Evaluation(cand, planned=len(examples))
            await evaluator.evaluate(cand, examples, ev)
            est = ev.estimate(self.settings.tune.seed)
            self.store.set_candidate_score(self.run_id, cand.id, score=est.mean, low=est.low,
                                           high=est.high, n=est.n,
                                           status="partial" if ev.partial else "evaluated")
            self.emit(EvaluationDone(self.run_id, cand.id, est, ev.partial))

        async with asyncio.TaskGroup() as group:
            for cand in cands:
                group.create_task(one(cand))

    def _ranked(self, original_id: str) -> list[Evaluation]:
        complete = [e for e in self.evaluations.values()
                    if not e.partial or e.candidate.id == original_id]
        # Ranking needs only the means; intervals (a bootstrap each) are computed for reports.
        return sorted(complete, key=lambda e: (-e.mean(),
                                               e.candidate.id != original_id,
                                               len(e.candidate.text())))

    def _check_budget(self, n_examples: int, judged: bool) -> None:
        plan = plan_calls(n_examples, self.settings, judged)
        limit = self.settings.budget.max_calls
        if limit is None:
            return
        if limit < plan["minimum"]:
            raise ConfigError(
                f"--max-calls {limit} cannot compare even two candidates: that needs "
                f"{plan['minimum']} calls ({n_examples} examples x 2 candidates"
                f"{' x 2 with the judge' if judged else ''} + 1 proposal)",
                f"raise --max-calls to at least {plan['minimum']} or use fewer examples")
        if limit < plan["calls"]:
            self.emit(RunWarning(self.run_id,
                              f"budget of {limit} calls is below the plan's {plan['calls']} "
                              f"({plan['evaluations']} candidates x {n_examples} examples); the "
                              "run will stop early and keep everything it measured"))

    # -- the loop -----------------------------------------------------------------------------
    async def execute(self) -> TuneResult:
        s = self.settings
        roles = s.models
        target = self.hub.get(roles.target)
        optimizer = self.hub.get(roles.optimizer)
        metric_name = "+".join(spec.label for spec in self.task.metric_specs())
        judge = self.hub.get(roles.judge) if self.task.uses_judge() else None
        metric = make_scorer(self.task, judge, self.templates, seed=s.tune.seed)
        examples = self._examples()
        self._check_budget(len(examples), judge is not None)
        if self.resume:
            self.store.reopen_run(self.run_id)
        else:
            self.store.create_run(self.run_id, task_name=self.task.name,
                                  task=self.task.model_dump(mode="json"),
                                  settings=s.model_dump(mode="json"), target=roles.target,
                                  optimizer=roles.optimizer, judge=roles.judge,
                                  metric=metric_name)
        evaluator = Evaluator(target, metric, concurrency=s.tune.concurrency,
                              max_tokens=s.tune.answer_max_tokens or answer_tokens(self.task),
                              seed=s.tune.seed, sample_temperature=s.tune.sample_temperature,
                              on_result=self._record_result)
        ctx = StrategyContext(self.task, optimizer, self.templates, s.tune.seed,
                              s.tune.optimizer_temperature, s.tune.proposal_max_tokens,
                              examples=tuple(examples))
        strategy = get_strategy("refine")
        original = Candidate(self.task.messages)
        status = "finished"
        try:
            self._admit([original])
            self.emit(PhaseStarted(self.run_id, "baseline", len(examples), "the original prompt"))
            await self._evaluate(evaluator, [original], examples)
            if self.evaluations[original.id].partial:
                raise BudgetExhausted("the budget ran out before the original prompt was scored",
                                      "raise --max-calls")
            self.emit(PhaseStarted(self.run_id, "propose", s.tune.variations,
                                   f"{s.tune.variations} variations from {roles.optimizer}"))
            proposed = self._admit(await strategy.propose(ctx, original, s.tune.variations))
            self.emit(PhaseStarted(self.run_id, "evaluate", len(proposed) * len(examples)))
            await self._evaluate(evaluator, proposed, examples)
            self._round(1, original.id)
            top = [e for e in self._ranked(original.id) if e.failures()][: s.tune.refine_top]
            if top:
                self.emit(PhaseStarted(self.run_id, "refine", len(top),
                                       f"rewrite the top {len(top)} against their failures"))
                async with asyncio.TaskGroup() as group:
                    jobs = [group.create_task(strategy.refine(ctx, e)) for e in top]
                refined = self._admit([j.result() for j in jobs])
                await self._evaluate(evaluator, refined, examples)
                self._round(2, original.id)
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
        return self._finalize(original, status)

    def _round(self, number: int, original_id: str) -> None:
        best = self._ranked(original_id)[0]
        self.emit(RoundFinished(self.run_id, number, best.candidate.id,
                                best.estimate(self.settings.tune.seed)))

    def _finalize(self, original: Candidate, status: str) -> TuneResult:
        seed = self.settings.tune.seed
        self.emit(PhaseStarted(self.run_id, "finalize", None, "report"))
        ranked = self._ranked(original.id)
        orig_ev = self.evaluations[original.id]
        best_ev = ranked[0]
        ranked_ids = {e.candidate.id for e in ranked}
        unranked = [e for e in self.evaluations.values() if e.candidate.id not in ranked_ids]
        results = [CandidateResult(e.candidate, e.estimate(seed), e.partial)
                   for e in ranked + unranked]
        by_id = {r.id: r for r in results}
        shared = sorted(orig_ev.results.keys() & best_ev.results.keys())
        a = [orig_ev.results[i].score for i in shared]
        b = [best_ev.results[i].score for i in shared]
        wins, losses, p = sign_test(a, b)
        improved = best_ev.candidate.id != original.id
        explanation = explain(by_id[original.id], by_id[best_ev.candidate.id], wins, losses, p,
                              improved)
        usage = self.hub.stats()
        total = self.hub.usage()
        result = TuneResult(
            run_id=self.run_id, task_name=self.task.name, status=status,
            original=by_id[original.id], best=by_id[best_ev.candidate.id], candidates=results,
            explanation=explanation, p_value=p if improved else None, improved=improved,
            usage=usage, calls=total.calls, cache_hits=total.cache_hits,
            duration_s=time.monotonic() - self.started, warnings=list(self.warnings),
        )
        out_dir = self.settings.runs_dir() / self.run_id
        result.report_path, result.json_path = write_reports(result, self.store, out_dir,
                                                             self.templates)
        self.store.finish_run(self.run_id, status=status, original_id=original.id,
                              best_id=result.best.id, original_score=result.original.estimate.mean,
                              best_score=result.best.estimate.mean, result=result.to_json(),
                              report_path=result.report_path)
        self.emit(RunFinished(self.run_id, status, result.best.id,
                              {"baseline": result.original.estimate.mean,
                               "best": result.best.estimate.mean}))
        return result


def replay_from_store(store: Store, run_id: str) -> dict[str, Completion]:
    """The answers a run already received, by request hash (every call is stored as it lands)."""
    out = {}
    for row in store.responses(run_id):
        out[row["key"]] = Completion(
            text=row["text"] or "", prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0, latency_s=row["latency_s"] or 0.0,
            finish_reason=row["finish_reason"] or "stop", cached=True, model=row["model"] or "")
    return out


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
) -> TuneResult:
    """Tune ``task``'s prompt; every step is stored and reported through ``on_event``.

    ``resume=True`` with the ``run_id`` of an unfinished run carries it on: the run's stored
    answers are replayed (no model call is paid twice, cache or not) and it finishes under the
    same id."""
    own_store = store is None
    store = store or Store(settings.store_file())
    if resume:
        if run_id is None:
            raise ConfigError("resuming needs the run id", "pass run_id")
        status = store.get_run(run_id)["status"]
        if status in ("finished", "budget_exhausted"):
            raise ConfigError(f"run {run_id} has already finished ({status})",
                              "start a new run instead")
    run = TuneRun(task, settings, secrets or Secrets(), store, on_event, use_cache, run_id,
                  resume=resume)
    try:
        try:
            return await run.execute()
        except BaseExceptionGroup as group:
            raise _first_user_error(group) from group
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
                 store: Store | None = None) -> TuneResult:
    """Finish an interrupted run (killed, crashed, cancelled) with the task and settings it
    started with; ``settings`` only says where the store is."""
    own_store = store is None
    store = store or Store(settings.store_file())
    try:
        row = store.get_run(run_id)
        task = Task.model_validate_json(row["task_json"])
        saved = Settings.model_validate_json(row["settings_json"])
        return await tune(task, saved, secrets=secrets, on_event=on_event, use_cache=use_cache,
                          store=store, run_id=run_id, resume=True)
    finally:
        if own_store:
            store.close()


def _first_user_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """TaskGroups wrap errors; a person needs the first real one, not the group."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_user_error(exc)
        if isinstance(exc, PromptTunerError | KeyboardInterrupt):
            return exc
    return group.exceptions[0]


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
