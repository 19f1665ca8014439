"""``tune --interactive``: review each round's candidates in the terminal.

After a round the person sees the ranked candidates and what the new ones changed, then types
one-letter commands. What they ask for piles up until ``a`` (accept the round) or ``s`` (stop and
finalize) hands it to the engine as one ``RoundDecision``; prompts they edit or write are scored
and shown to them again before the next round starts.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Literal, TextIO

from rich.console import Console
from rich.text import Text

from core import (
    PromptTunerError,
    ReviewEntry,
    RoundDecision,
    RoundReview,
    check_slots,
    is_whole_prompt,
    prompt_slots,
)

from .review_view import prompt_view, screen

KEYS = "a accept · d drop · e edit · n new · v view · u undo · s stop · ? help"
HELP = """\
  a           accept the round: carry out what is pending and go on
  d N [N …]   drop candidates (N: a rank from the table or an id prefix)
  e N         edit candidate N's main message in $EDITOR: the edit is a new candidate
  n           write a prompt of your own (it replaces the original's main message;
              [system]/[user] lines start messages); end it with a line holding only "."
  n -e        write it in $EDITOR instead
  v N         show a whole prompt
  l           show the table again
  u           undo the last pending action
  s           stop: carry out what is pending, then finalize (held-out check, report)
  ?           this help
Ctrl-D stops and finalizes like s; Ctrl-C interrupts the run (tune --resume carries it on)."""
COMMAND = re.compile(r"(help|[adenvlus?h])(?:\s+|(?=[#\d])|$)(.*)", re.IGNORECASE)

Action = tuple[Literal["drop", "edit", "add"], str, str]  # kind, candidate id, text


class TerminalReviewer:
    """The ``reviewer`` of ``tune`` that asks a person at the terminal (``console`` prints;
    ``stdin`` is read, the terminal by default; ``editor`` overrides $VISUAL/$EDITOR)."""

    def __init__(self, console: Console, *, pause: Callable[[], None] | None = None,
                 editor: Sequence[str] | None = None, stdin: TextIO | None = None) -> None:
        self.console = console
        self.pause = pause
        self.editor = list(editor) if editor else None
        self.stdin = stdin
        self._round = 0

    def __call__(self, review: RoundReview) -> RoundDecision:
        if self.pause is not None:
            self.pause()
        again, self._round = review.round == self._round, review.round
        with _ctrl_c_interrupts():
            return _Session(self, review, again).run()

    def read(self, prompt: Text) -> str:
        """One line; EOFError at the end of the input."""
        line = self.console.input(prompt, stream=self.stdin)
        if self.stdin is not None and not line:
            raise EOFError
        return line.rstrip("\r\n")

    def edit(self, text: str) -> str:
        """``text`` as the person left it in their editor."""
        command = self.editor or editor_command()
        with tempfile.TemporaryDirectory(prefix="prompt-tuner-") as folder:
            path = Path(folder) / "prompt.txt"
            path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
            try:
                with _ctrl_c_ignored():
                    done = subprocess.run([*command, str(path)], check=False)
            except OSError as exc:
                raise PromptTunerError(f"could not start the editor {shlex.join(command)}: "
                                       f"{exc.strerror or exc}", "set $EDITOR") from None
            if done.returncode != 0:
                raise PromptTunerError(f"the editor exited with status {done.returncode}",
                                       "nothing was changed")
            return path.read_text(encoding="utf-8")


class _Session:
    """One review: the screen, then commands until the person accepts or stops."""

    def __init__(self, owner: TerminalReviewer, review: RoundReview, again: bool) -> None:
        self.owner = owner
        self.console = owner.console
        self.review = review
        self.again = again
        self.actions: list[Action] = []
        self.ranks = {e.id: i for i, e in enumerate(review.entries, 1)}
        self.original = next((e for e in review.entries if e.is_original), None)

    def run(self) -> RoundDecision:
        self.show()
        self.console.print(Text(KEYS, "dim"))
        while True:
            try:
                line = self.owner.read(self.prompt())
            except EOFError:
                self.console.print()
                self.say("end of input: stopping after this round")
                return self.finish(stop=True)
            try:
                done = self.handle(line.strip())
            except PromptTunerError as exc:
                self.error(str(exc))
                continue
            if done is not None:
                return done

    def handle(self, line: str) -> RoundDecision | None:
        if not line:
            self.console.print(Text(KEYS, "dim"))
            return None
        match = COMMAND.fullmatch(line)
        if match is None:
            self.error(f"unknown command {line.split()[0]!r} (? lists them)")
            return None
        cmd, args = match.group(1).lower(), match.group(2).split()
        if cmd in ("a", "s"):
            return self.finish(stop=cmd == "s")
        actions: dict[str, Callable[[list[str]], None]] = {
            "d": self.drop, "e": self.edit, "n": self.new, "v": self.view,
            "l": lambda _: self.show(), "u": lambda _: self.undo()}
        if cmd in actions:
            actions[cmd](args)
        else:
            self.console.print(HELP, markup=False, highlight=False)
        return None

    # -- commands ---------------------------------------------------------------------------------
    def drop(self, refs: list[str]) -> None:
        if not refs:
            raise PromptTunerError("d needs the candidates to drop", "e.g. d 2 3")
        for ref in refs:
            entry = self.find(ref)
            if entry.is_original:
                self.error(f"#{self.rank(entry)} is the original: it stays, every candidate is "
                           "compared with it")
            elif any(a[:2] == ("drop", entry.id) for a in self.actions):
                self.say(f"#{self.rank(entry)} is already to be dropped")
            else:
                self.actions.append(("drop", entry.id, ""))
                self.say(f"will drop #{self.rank(entry)} {entry.id} (u undoes)")

    def edit(self, refs: list[str]) -> None:
        if len(refs) != 1:
            raise PromptTunerError("e needs one candidate", "e.g. e 2")
        entry = self.find(refs[0])
        text = self.compose(entry.main, prompt_slots(entry.main))
        if text is not None:
            self.actions.append(("edit", entry.id, text))
            self.say(f"your edit of #{self.rank(entry)} is pending: a accepts the round and "
                     "scores it")

    def new(self, args: list[str]) -> None:
        base = self.original.main if self.original is not None else ""
        if args == ["-e"]:
            text = self.compose(base, prompt_slots(base), whole=self.original_slots())
        elif not args:
            text = self.type_prompt(prompt_slots(base))
        else:
            raise PromptTunerError(f"n takes no {' '.join(args)!r}", "n, or n -e for the editor")
        if text is not None:
            self.actions.append(("add", "", text))
            self.say("your prompt is pending: a accepts the round and scores it")

    def view(self, refs: list[str]) -> None:
        if len(refs) != 1:
            raise PromptTunerError("v needs one candidate", "e.g. v 1")
        entry = self.find(refs[0])
        self.console.print(prompt_view(entry, self.rank(entry)), highlight=False)

    def undo(self) -> None:
        if not self.actions:
            self.say("nothing is pending")
            return
        kind, cid, _ = self.actions.pop()
        what = {"drop": "drop of", "edit": "edit of", "add": "your new prompt"}[kind]
        self.say(f"undone: {what}" + (f" #{self.ranks[cid]}" if cid else ""))

    def finish(self, *, stop: bool) -> RoundDecision:
        decision = RoundDecision(
            drop=[cid for kind, cid, _ in self.actions if kind == "drop"],
            edits=[(cid, text) for kind, cid, text in self.actions if kind == "edit"],
            add=[text for kind, _, text in self.actions if kind == "add"], stop=stop)
        steps = [f"dropping {len(decision.drop)}"] if decision.drop else []
        written = len(decision.edits) + len(decision.add)
        if written:
            steps.append(f"scoring your {written} prompt{'s' if written > 1 else ''}")
        last = self.review.round >= self.review.rounds
        if stop or (last and not written):
            then = "finalizing: the held-out check and the report"
        elif written:
            then = "you see the table again"
        else:
            then = f"on to round {self.review.round + 1}"
        self.say("; ".join([*steps, f"then {then}"]) if steps else then[0].upper() + then[1:])
        return decision

    # -- helpers ----------------------------------------------------------------------------------
    def compose(self, start: str, required: frozenset[str],
                whole: frozenset[str] | None = None) -> str | None:
        """A prompt written in the editor, starting from ``start``; None if left unchanged.
        ``whole``: the inputs a whole prompt ([system]/[user] lines) must keep, if it may be one."""
        text = start
        while True:
            text = self.owner.edit(text).strip()
            if not text or text == start.strip():
                self.say("empty: nothing to do" if not text else "unchanged: nothing to do")
                return None
            if self.usable(text, whole if whole is not None and is_whole_prompt(text) else required):
                return text
            if not self.yes("edit it again?"):
                return None

    def type_prompt(self, required: frozenset[str]) -> str | None:
        inputs = ", ".join(f"{{{{ {s} }}}}" for s in sorted(required)) or "no inputs"
        self.say(f"Type your prompt ({inputs}); end with a line holding only \".\". It replaces "
                 "the original's main message; [system]/[user] lines start messages.")
        lines: list[str] = []
        try:
            while (line := self.owner.read(Text("… ", "dim"))).strip() != ".":
                lines.append(line)
        except EOFError:
            self.console.print()
        except KeyboardInterrupt:
            self.console.print()
            self.say("cancelled")
            return None
        text = "\n".join(lines).strip()
        if not text:
            self.say("empty: nothing to do")
            return None
        return text if self.usable(text, self.original_slots() if is_whole_prompt(text) else required) \
            else None

    def usable(self, text: str, required: frozenset[str]) -> bool:
        """Whether the engine can run ``text``; says which inputs it will append."""
        try:
            present = check_slots(text, self.review.inputs)
        except PromptTunerError as exc:
            self.error(str(exc))
            return False
        missing = sorted(required - present)
        if missing:
            self.say("it leaves out " + ", ".join(f"{{{{ {s} }}}}" for s in missing)
                     + ": a line with each is appended")
        return True

    def find(self, ref: str) -> ReviewEntry:
        entries = self.review.entries
        ref = ref.lstrip("#").lower()
        if ref.isdigit() and 1 <= int(ref) <= len(entries):
            return entries[int(ref) - 1]
        found = [e for e in entries if e.id.startswith(ref)] if len(ref) >= 4 else []
        if len(found) == 1:
            return found[0]
        what = "several candidates" if found else "no candidate"
        raise PromptTunerError(f"{ref!r} matches {what}",
                               f"give a rank 1-{len(entries)} or at least 4 characters of an id")

    def original_slots(self) -> frozenset[str]:
        return prompt_slots(self.original.text) if self.original is not None else frozenset()

    def rank(self, entry: ReviewEntry) -> int:
        return self.ranks[entry.id]

    def show(self) -> None:
        dropping = {cid for kind, cid, _ in self.actions if kind == "drop"}
        self.console.print(screen(self.review, again=self.again, dropping=dropping,
                                  plain=not self.console.is_terminal), highlight=False)

    def prompt(self) -> Text:
        pending = f" · {len(self.actions)} pending" if self.actions else ""
        return Text(f"round {self.review.round}{pending} > ", "bold cyan")

    def yes(self, question: str) -> bool:
        try:
            answer = self.owner.read(Text(f"{question} [Y/n] ", "bold"))
        except EOFError:
            return False
        return answer.strip().lower() in ("", "y", "yes")

    def say(self, message: str) -> None:
        self.console.print(Text(message, "dim"), soft_wrap=not self.console.is_terminal)

    def error(self, message: str) -> None:
        self.console.print(Text(message, "yellow"), soft_wrap=not self.console.is_terminal)


def editor_command() -> list[str]:
    """The person's editor: $VISUAL, else $EDITOR, else vi (with its arguments, shell-split)."""
    for name in ("VISUAL", "EDITOR"):
        words = shlex.split(os.environ.get(name, ""))
        if words:
            return words
    return ["vi"]


@contextmanager
def _ctrl_c_interrupts() -> Iterator[None]:
    """While a person is asked, one Ctrl-C interrupts the run. (``asyncio.run`` turns the first
    Ctrl-C into a cancellation of the run's task, which a prompt blocked on input never sees.)"""
    with _sigint(signal.default_int_handler):
        yield


@contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """While the editor runs, Ctrl-C belongs to it (vi users press it to leave insert mode)."""
    with _sigint(_ignore):
        yield


@contextmanager
def _sigint(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A handler that does nothing (unlike SIG_IGN, the editor does not inherit it)."""
