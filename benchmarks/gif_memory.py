"""Peak memory of writing a GIF, for a short and a long video: it should not grow with the length.

Each length runs in a fresh child process that writes frames one at a time through ``write_video``; this
process samples the resident memory (VmRSS) of the child and all its descendants (the ffmpeg encoders)
every few milliseconds and prints the largest total, with the largest single process (its VmHWM, exact)
and the time taken.

    python benchmarks/gif_memory.py                  # 150 and 1200 frames of 256 x 256
    python benchmarks/gif_memory.py --size 512 --frames 150 600 2400
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import sys
import numpy as np
from fomm_cli.media.video import write_video

count, size, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
y, x = np.mgrid[0:size, 0:size] / size

def frames():
    for i in range(count):  # a moving coloured pattern: palette and frame differences stay realistic
        t = i / 25
        r = 0.5 + 0.5 * np.sin(6 * x + t)
        g = 0.5 + 0.5 * np.sin(5 * y - 1.3 * t)
        b = ((x - 0.5 - 0.3 * np.cos(t)) ** 2 + (y - 0.5 - 0.3 * np.sin(t)) ** 2 < 0.02).astype(float)
        yield (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)

write_video(out, frames(), 25)
"""


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(c) for c in children)
    return found


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(count: int, size: int, folder: Path) -> tuple[float, float, float, int]:
    """(peak tree RSS MiB, largest process peak MiB, seconds, GIF bytes) for ``count`` frames."""
    out = folder / f"bench-{count}.gif"
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(count), str(size), str(out)])
    peak_tree = peak_process = 0
    while child.poll() is None:
        pids = tree(child.pid)
        peak_tree = max(peak_tree, sum(status_kib(p, "VmRSS") for p in pids))
        peak_process = max([peak_process, *(status_kib(p, "VmHWM") for p in pids)])
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"writing {count} frames failed (exit {child.returncode})")
    return peak_tree / 1024, peak_process / 1024, seconds, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[150, 1200])
    parser.add_argument("--size", type=int, default=256, help="frame width and height in pixels")
    args = parser.parse_args()
    print(f"GIF output, {args.size} x {args.size} frames at 25 fps; peak resident memory of the writing process "
          "and its ffmpeg children")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.frames:
            tree_mib, process_mib, seconds, size = measure(count, args.size, Path(folder))
            results.append(tree_mib)
            print(f"{count:6d} frames: process tree {tree_mib:7.1f} MiB (largest process {process_mib:6.1f} MiB), "
                  f"{seconds:5.1f} s, GIF {size / 1e6:6.2f} MB", flush=True)
    print(f"ratio longest / shortest: {results[-1] / results[0]:.3f}")


if __name__ == "__main__":
    main()
