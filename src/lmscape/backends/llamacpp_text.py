"""Generated tokens to text: incremental UTF-8 decoding and stop strings.

Used by the llamacpp backend so that streamed chunks and the non-streamed result are
built by the same code: a chunk is emitted only once it cannot be part of a stop string
and holds no half of a multi-byte character.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextAssembler:
    """Feed token bytes, get text deltas; stops at the first stop string."""

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._pending = ""
        self.text = ""  # everything emitted so far
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """Add the bytes of one token; return the text that is now safe to emit."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(data)
        if not self._stop:
            return self._emit(len(self._pending))
        cut = self._first_stop(self._pending)
        if cut is not None:
            self.stopped = True
            return self._emit(cut, drop_rest=True)
        return self._emit(len(self._pending) - self._held_back(self._pending))

    def finish(self) -> str:
        """Flush whatever is left once generation ends."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(b"", final=True)
        cut = self._first_stop(self._pending)
        if cut is not None:
            self.stopped = True
            return self._emit(cut, drop_rest=True)
        return self._emit(len(self._pending))

    # -- helpers ---------------------------------------------------------------------
    def _emit(self, n: int, *, drop_rest: bool = False) -> str:
        out, self._pending = self._pending[:n], ("" if drop_rest else self._pending[n:])
        self.text += out
        return out

    def _first_stop(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(hits) if hits else None

    def _held_back(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that could start a stop string."""
        best = 0
        for s in self._stop:
            for k in range(min(len(s) - 1, len(text)), best, -1):
                if s.startswith(text[-k:]):
                    best = k
                    break
        return best
