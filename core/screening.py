"""What stands between a strategy's proposals and the target model, and what a run takes from the
runs before it: the faithfulness check (``core.faithful``), near-duplicates of prompts already
measured (``core.clusters``), proposals an earlier run of the task measured as losers
(``core.earlier``), the score predictor trained on the store (``core.predictor``), and round 1's
warm-start seeds (``core.warmstart``).

Every verdict is an id -> reason mapping: the engine stores a rejected proposal with its reason
and never scores it. History is read as of the run's start, so a resumed run decides as its first
leg did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .candidate import Candidate
from .clusters import embed_candidates, near_duplicate
from .config import Settings
from .earlier import Earlier, earlier_losers, measured_before
from .errors import TaskError
from .faithful import FaithfulnessCheck
from .predictor import Prediction, Predictor
from .store import Store
from .task import Example, Task
from .warmstart import describe, precedents, seeds

Predicted = dict[str, tuple[Prediction, str]]  # id -> (prediction, why it is skipped or "")


def most_promising_first(made: Sequence[Candidate], predicted: Predicted) -> list[Candidate]:
    """``made`` by predicted gain over the parent, highest first; a proposal without a prediction
    counts as 0 (no knowledge), and equals keep their order. Scoring starts in this order, so
    when the budget runs out mid-round the promising proposals are the ones measured."""
    return sorted(made, key=lambda c: -predicted[c.id][0].gain if c.id in predicted else 0.0)


@dataclass
class Screening:
    task: Task
    settings: Settings
    store: Store
    run_id: str
    faithful: FaithfulnessCheck
    original: Candidate
    predictor: Predictor | None = None
    history_before: float | None = None   # earlier runs count if they had finished by then
    earlier: list[Earlier] = field(default_factory=list)  # earlier runs' losers on this task

    async def learn(self) -> None:
        """Read what earlier runs teach, as of this run's start (stored with the run)."""
        self.history_before = float(self.store.get_run(self.run_id)["created_at"])
        if self.settings.tune.predictor:
            self.predictor = await asyncio.to_thread(
                Predictor.from_store, self.store, self.settings.models.target,
                exclude_run=self.run_id, before=self.history_before)
            self.earlier = await asyncio.to_thread(
                earlier_losers, self.store, self.task.name, self.settings.models.target,
                exclude_run=self.run_id, before=self.history_before)

    async def warm(self, train: Sequence[Example]) -> tuple[list[Candidate], str]:
        """Round 1's seeds from earlier runs on similar tasks, and one line saying where from."""
        s = self.settings.tune
        if not s.warm_start:
            return [], ""
        found = await asyncio.to_thread(
            precedents, self.store, self.task, self.settings.models.target, run_id=self.run_id,
            threshold=s.warm_threshold, before=self.history_before)
        return seeds(self.task, self.original, found, train), describe(found)

    async def screen(self, made: Sequence[Candidate], known: Mapping[str, Candidate],
                     measured: Sequence[Candidate]) -> tuple[dict[str, str], Predicted]:
        """The proposals not to score (id -> why) and every proposal's prediction."""
        rejected = await self.faithful.screen(made, known)
        rejected.update(await self.near_duplicates([c for c in made if c.id not in rejected],
                                                   measured))
        if self.earlier:
            rejected.update(await asyncio.to_thread(
                measured_before, [c for c in made if c.id not in rejected], self.earlier,
                self.settings.tune.duplicate_threshold))
        predicted = self.predict([c for c in made if c.id not in rejected],
                                 {**known, **{c.id: c for c in made}})
        rejected.update({cid: why for cid, (_, why) in predicted.items() if why})
        return rejected, predicted

    def predict(self, made: Sequence[Candidate], known: Mapping[str, Candidate]) -> Predicted:
        """The predictor's expected dev gain of each proposal over its parent, and why it is
        skipped ("" when it is scored): a confident predicted loser, on this target's own
        history only, and never every proposal of the ask."""
        if self.predictor is None:
            return {}
        out: Predicted = {}
        for cand in made:
            parent = known.get(cand.parents[0]) if cand.parents else None
            if parent is not None:
                out[cand.id] = (self.predictor.predict(parent, cand), "")
        losers = [] if self.predictor.pooled else [
            cid for cid, (pred, _) in out.items() if pred.loser]
        if len(losers) == len(made) and losers:  # keep the most promising one
            losers.remove(max(losers, key=lambda cid: out[cid][0].gain))
        for cid in losers:
            pred = out[cid][0]
            out[cid] = (pred, f"predicted to lose to its parent: {pred.gain * 100:+.0f} points "
                              f"[{pred.low * 100:+.0f}, {pred.high * 100:+.0f}] from "
                              f"{pred.support} earlier candidates like it")
        return out

    def record(self, made: Sequence[Candidate], predicted: Predicted) -> None:
        """Store every prediction, so that the predictor's calibration can be read back."""
        target = self.settings.models.target
        for cand in made:
            if cand.id in predicted and cand.parents:
                pred, why = predicted[cand.id]
                self.store.record_prediction(
                    self.run_id, cand.id, parent_id=cand.parents[0], target=target,
                    predicted=pred.gain, low=pred.low, high=pred.high, support=pred.support,
                    skipped=bool(why))

    async def near_duplicates(self, made: Sequence[Candidate],
                              measured: Sequence[Candidate]) -> dict[str, str]:
        """Proposals whose instruction means what a measured prompt's does (MiniLM cosine at
        least ``tune.duplicate_threshold``; case and punctuation never count), with the same
        demonstrations and answer line: id -> why. They cost no target call."""
        threshold = self.settings.tune.duplicate_threshold
        if not made or not measured or threshold > 1:
            return {}

        def look() -> dict[str, str]:
            vectors = dict(zip((c.id for c in measured),
                               embed_candidates([c.text() for c in measured]), strict=True))
            out: dict[str, str] = {}
            for cand in made:
                same = [(c.id, vectors[c.id]) for c in measured
                        if c.demos == cand.demos and c.answer_prefix == cand.answer_prefix]
                twin = near_duplicate(cand.text(), same, threshold) if same else None
                if twin is not None:
                    out[cand.id] = f"near-duplicate of `{twin}`, already measured"
            return out

        try:
            return await asyncio.to_thread(look)
        except TaskError:  # no embedding model installed: every proposal is measured
            return {}
