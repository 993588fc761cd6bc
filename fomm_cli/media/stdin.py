"""Our standard input as a video source: read once, by a probe and then a decoder, or kept in a file."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

from fomm_cli.errors import OutputError
from fomm_cli.fsutil import create_temp_file, remove_leftovers
from fomm_cli.media.ffmpeg import FfmpegProcess, ffmpeg_exe

_CHUNK = 1 << 16


class StdinStream:
    """Our standard input, read once. ``probe`` shows ffmpeg the start of the stream (kept in memory: what
    ffmpeg reads to find the streams, bounded by its probe size, 5 MB) and returns its header; then either
    ``feed`` gives a decoder that start followed by the rest, from a thread, or ``spool`` writes it all to
    a temporary file (in the system's temporary folder; the caller removes it)."""

    def __init__(self) -> None:
        self.prefix: list[bytes] = []
        self.eof = False
        self.used = False  # set by the caller when a decoder is given the stream

    def _read(self) -> bytes:
        chunk = os.read(0, _CHUNK)
        if not chunk:
            self.eof = True
        return chunk

    def probe(self) -> tuple[str, FfmpegProcess]:
        """Run ``ffmpeg -i pipe:0`` on the stream until it has printed the header; returns (log head, process)."""
        process = FfmpegProcess([ffmpeg_exe(), "-hide_banner", "-loglevel", "level+info", "-i", "pipe:0"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        pipe = process.proc.stdin
        assert pipe is not None
        try:
            while process.proc.poll() is None and not self.eof:
                if not select.select([0], [], [], 0.05)[0]:
                    continue  # nothing new yet: look again whether ffmpeg has seen enough
                chunk = self._read()
                self.prefix.append(chunk)
                try:
                    if chunk:
                        pipe.write(chunk)
                        pipe.flush()
                    else:
                        pipe.close()
                except (BrokenPipeError, ValueError):  # it has seen enough and left
                    break
            process.wait()
        finally:
            process.kill()
        return process.log.text(), process

    def feed(self, pipe: IO[bytes]) -> None:
        """Copy the probed start and then the rest of stdin into ``pipe`` (a decoder's stdin), in a thread."""
        threading.Thread(target=self._copy, args=(pipe,), daemon=True).start()

    def _copy(self, pipe: IO[bytes]) -> None:
        try:
            for chunk in self.prefix:
                pipe.write(chunk)
            self.prefix = []
            while not self.eof:
                pipe.write(self._read())
        except (OSError, ValueError):  # the decoder stopped (or was stopped): nothing more to give it
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    @staticmethod
    def new_spool() -> Path:
        """A new empty temporary file to copy stdin into (``spool``); the caller removes it."""
        folder = Path(tempfile.gettempdir())
        remove_leftovers(folder)
        try:
            return create_temp_file(folder / "stdin", "spool")
        except OSError as err:
            raise OutputError.from_os_error(folder / "stdin", err) from None

    def spool(self, path: Path) -> None:
        """Copy all of stdin into ``path`` (from ``new_spool``)."""
        try:
            with open(path, "wb") as out:
                for chunk in self.prefix:
                    out.write(chunk)
                self.prefix = []
                while not self.eof:
                    out.write(self._read())
        except OSError as err:
            reason = (err.strerror or type(err).__name__).lower()
            raise OutputError(path, f"cannot keep a copy of standard input: {reason}") from None
