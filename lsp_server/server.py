"""The language server object: settings, open documents' analyses, runs in flight, results."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from core import LoadedSettings, PromptTunerError, Store, __version__, open_store

from . import SERVER_NAME
from .analysis import Analyzer, DocAnalysis
from .find_files import document_kind
from .history import History
from .options import ServerOptions, parse_options
from .ranges import Ranges
from .trust import resolved

log = logging.getLogger(__name__)


@dataclass
class Offer:
    """The outcome of an optimize run, offered at the prompt until its text changes."""

    uri: str
    key: str
    original_text: str
    new_text: str
    title: str
    significant: bool
    run_id: str
    message: str


def merge_options(base: Any, over: Any) -> Any:
    """``over`` on top of ``base``, one level deep (so ``models.target`` alone keeps the rest)."""
    if not isinstance(over, dict) or not over:
        return base
    if not isinstance(base, dict):
        return over
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class PromptTunerServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SERVER_NAME, __version__,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.options = ServerOptions()
        self.root: Path | None = None
        self._loaded: LoadedSettings | None = None
        self._analyzer: Analyzer | None = None
        self._store: Store | None = None                 # runs write here
        self._reader: Store | None = None                # history reads here, read-only
        self._history: History | None = None
        self.analyses: dict[str, DocAnalysis] = {}
        self.runs: dict[tuple[str, str], Any] = {}       # (uri, key) -> asyncio.Task of a run
        self.offers: dict[tuple[str, str], Offer] = {}
        self.virtual: dict[str, str] = {}                 # prompt-tuner: URI -> content
        self.evaluations: dict[tuple[str, str], tuple[str, Any, str]] = {}  # text, estimate, target
        self.config_error: str | None = None
        self.init_options: Any = None
        self.background: set[Any] = set()                 # tasks kept alive until they finish

    # -- settings -------------------------------------------------------------------------------
    def configure(self, raw: Any, over: Any = None) -> None:
        """Apply editor settings (``over``, from workspace/configuration, on top of ``raw``, the
        initializationOptions); a bad value is reported once and the defaults are kept."""
        self.init_options = raw
        raw = merge_options(raw, over)
        try:
            self.options = parse_options(raw)
            loaded = self.options.core_settings(self.root)
        except PromptTunerError as exc:
            self.config_error = str(exc)
            self.options = ServerOptions()
            loaded = ServerOptions().core_settings(self.root)
        else:
            self.config_error = None
        self._loaded = loaded
        self._analyzer = None
        for store in (self._store, self._reader):
            if store is not None:
                store.close()
        self._store = self._reader = None
        self._history = None
        self.analyses.clear()

    @property
    def loaded(self) -> LoadedSettings:
        if self._loaded is None:
            self.configure(None)
        assert self._loaded is not None
        return self._loaded

    @property
    def analyzer(self) -> Analyzer:
        if self._analyzer is None:
            self._analyzer = Analyzer(self.options, self.loaded, self.root, self.history,
                                      self.workspace_folders)
        return self._analyzer

    def workspace_folders(self) -> list[Path]:
        """The workspace folders (as the client keeps them up to date), symlinks resolved."""
        try:
            folders = list(self.workspace.folders.values())
        except RuntimeError:  # before initialize
            folders = []
        paths = [to_fs_path(f.uri) for f in folders]
        if not paths and self.root is not None:
            paths = [str(self.root)]
        out = []
        for p in paths:
            real = resolved(Path(p)) if p else None
            if real is not None:
                out.append(real)
        return out

    @property
    def store(self) -> Store:
        """The store an explicit run writes to (made when missing)."""
        if self._store is None:
            self._store = open_store(self.loaded.settings)
        return self._store

    def reading_store(self) -> Store:
        """The store history is read from: read-only when it exists (reading history writes
        nothing); before the first run there is none, and the store a run writes stands in."""
        if self._reader is None and self.loaded.settings.store_file().exists():
            self._reader = open_store(self.loaded.settings, read_only=True)
        return self._reader or self.store

    def history(self) -> History | None:
        if self._history is None:
            try:
                self._history = History(self.reading_store())
            except PromptTunerError as exc:
                log.warning("no history: %s", exc)
                return None
        return self._history

    # -- documents ------------------------------------------------------------------------------
    def analysis(self, uri: str, fresh: bool = False) -> DocAnalysis | None:
        """The analysis of an open document's current text (cached by text)."""
        path = to_fs_path(uri)
        kind = document_kind(path or uri)
        if kind is None or path is None:
            return None
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        hit = self.analyses.get(uri)
        if hit is not None and hit.text == text and not fresh:
            return hit
        result = self.analyzer.analyse(Path(path), kind, text)
        self.analyses[uri] = result
        return result

    def ranges(self, analysis: DocAnalysis) -> Ranges:
        return Ranges(analysis.index, self.workspace.position_codec)
