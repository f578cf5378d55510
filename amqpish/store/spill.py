"""Spill files: where transient message bodies go when the queues outgrow memory.

Nothing here is durable. Bodies are appended to the current spill file (one
``write`` per batch, no fsync) and read back with ``pread``; a file is replaced by a
new one once it reaches ``file_size``. A body's place is a ``(SpillFile, offset)``
tuple that the message keeps, so the file lives exactly as long as some message
still refers to it: when the last such message is gone, reference counting drops
the ``SpillFile`` and it closes and unlinks itself. A message read back keeps its
place too, so paging it out again costs no write. The directory is emptied when the
store opens: spilled bodies do not survive a restart (their messages did not either).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_SUFFIX = ".spill"
# reads: bodies closer than this are read with one pread, up to _READ_SPAN bytes
_READ_GAP = 64 << 10
_READ_SPAN = 16 << 20

SpillPlace = tuple["SpillFile", int]


class SpillFile:
    """One spill file; unlinked when the last reference to it goes."""

    __slots__ = ("fd", "path", "size")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o600)
        self.size = 0

    def __del__(self) -> None:
        try:
            os.close(self.fd)
            os.unlink(self.path)
        except (OSError, AttributeError, TypeError):
            # already gone, or the interpreter is shutting down: the next start
            # empties the directory anyway
            pass


class SpillStore:
    def __init__(self, path: str | os.PathLike[str], *, file_size: int = 32 << 20) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(self.path):
            if entry.name.endswith(_SUFFIX):
                os.unlink(entry.path)
        self.file_size = file_size
        self._current: SpillFile | None = None
        self._next = 1
        # figures for tests and the log
        self.files_created = 0
        self.bytes_written = 0
        self.bytes_read = 0

    def write(self, bodies: Sequence[bytes]) -> list[SpillPlace]:
        """Append ``bodies`` (one write); returns where each went."""
        f = self._current
        total = sum(len(b) for b in bodies)
        if f is None or (f.size and f.size + total > self.file_size):
            f = self._current = SpillFile(self.path / f"{self._next:08d}{_SUFFIX}")
            self._next += 1
            self.files_created += 1
        places: list[SpillPlace] = []
        at = f.size
        for b in bodies:
            places.append((f, at))
            at += len(b)
        data = memoryview(b"".join(bodies))
        while data:
            n = os.write(f.fd, data)
            data = data[n:]
        f.size = at
        self.bytes_written += total
        return places

    def read(self, wanted: Sequence[tuple[SpillPlace, int]]) -> list[bytes]:
        """The bodies at these ``(place, length)``s, in that order."""
        spots = sorted(
            ((id(f), off, size, i, f) for i, ((f, off), size) in enumerate(wanted)),
            key=lambda s: (s[0], s[1]),
        )
        out = [b""] * len(wanted)
        i = 0
        n = len(spots)
        while i < n:
            key, start, size, _, f = spots[i]
            end = start + size
            j = i + 1
            while j < n:
                k2, o2, z2, _, _ = spots[j]
                if k2 != key or o2 - end > _READ_GAP or o2 + z2 - start > _READ_SPAN:
                    break
                end = max(end, o2 + z2)
                j += 1
            data = os.pread(f.fd, end - start, start)
            if len(data) != end - start:
                raise OSError(f"short read in {f.path} at {start}")
            self.bytes_read += len(data)
            if j == i + 1:
                out[spots[i][3]] = data
            else:
                view = memoryview(data)
                for _, off, sz, k, _ in spots[i:j]:
                    out[k] = bytes(view[off - start : off - start + sz])
            i = j
        return out

    def close(self) -> None:
        """Stop writing; files go when the messages that refer to them do."""
        self._current = None
