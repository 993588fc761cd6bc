"""What a run records as it trains (rank 0 only): ``log.jsonl``, ``losses.png``, ``visuals/step-N.png``.

A log record holds every loss term averaged over the processes, ``total`` (what the main model
minimised), ``rec_l1`` (the unweighted mean |prediction - driving|, comparable across configs; absent for
steps that render no frames), the learning rate and the seconds per step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

import torch

from fomm_cli.errors import FommError
from fomm_cli.train.config import VisualizerParams
from fomm_cli.train.distributed import Dist, mean_over_processes
from fomm_cli.train.step import StepOutput

LOG_NAME = "log.jsonl"
CURVES_NAME = "losses.png"
_SHORT_NAMES = {"perceptual": "perc", "equivariance_value": "eq_v", "equivariance_jacobian": "eq_j",
                "gen_gan": "g_gan", "feature_matching": "fm", "disc_gan": "d_gan"}
_NOT_LOSSES = ("step", "epoch", "lr", "sec_per_step")


def record(out: StepOutput, info: Dist, step: int, epoch: int, learning_rate: float,
           sec_per_step: float) -> dict[str, Any]:
    """One log line (every process must call this at the same step: the values are averaged)."""
    names = [*out.losses, "total"]
    with torch.no_grad():
        values = [out.losses[n].float() for n in names[:-1]] + [out.total.float()]
        if out.prediction is not None and out.target is not None:
            names.append("rec_l1")
            values.append((out.prediction.float() - out.target.float()).abs().mean())
    numbers = [float(v) for v in mean_over_processes(torch.stack(values), info).cpu()]
    result: dict[str, Any] = {"step": step, "epoch": epoch}
    result.update({n: round(v, 6) for n, v in zip(names, numbers, strict=True)})
    result["lr"] = learning_rate
    result["sec_per_step"] = round(sec_per_step, 4)
    if not all(math.isfinite(v) for v in numbers):
        raise FommError(f"training diverged at step {step} (non-finite loss: {result}); lower the learning "
                        "rates or resume from an earlier checkpoint")
    return result


def losses_of(line: dict[str, Any]) -> dict[str, float]:
    """The loss values of a log record (terms, total, rec_l1)."""
    return {k: v for k, v in line.items() if k not in _NOT_LOSSES}


def loss_line(line: dict[str, Any]) -> str:
    """Losses short enough for a progress bar (the full names are in log.jsonl)."""
    return " ".join(f"{_SHORT_NAMES.get(k, k)} {v:.3g}" for k, v in losses_of(line).items()
                    if k not in ("total", "rec_l1"))


class Logbook:
    """Appends records to ``log.jsonl`` and keeps ``losses.png`` and the batch pictures up to date."""

    def __init__(self, run_dir: Path, visualizer: VisualizerParams, history: list[dict[str, Any]]) -> None:
        self.run_dir = run_dir
        self.visualizer = visualizer
        self.history = list(history)
        (run_dir / "visuals").mkdir(exist_ok=True)
        self._file: IO[str] = open(run_dir / LOG_NAME, "a")  # noqa: SIM115 (closed by close())

    def write(self, line: dict[str, Any]) -> None:
        self.history.append(line)
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def picture(self, step: int, out: StepOutput) -> None:
        """``visuals/step-N.png`` (the batch) and a fresh ``losses.png``."""
        from fomm_cli.media.image import write_image
        from fomm_cli.train.checkpointing import checkpoint_name
        from fomm_cli.train.visualize import training_grid

        write_image(self.run_dir / "visuals" / f"{checkpoint_name(step)}.png",
                    training_grid(out.columns, self.visualizer))
        self.draw_curves()

    def draw_curves(self) -> None:
        from fomm_cli.media.image import write_image
        from fomm_cli.train.plot import draw_curves

        if not self.history:
            return
        names = list(losses_of(self.history[-1]))
        panels = {name: {"": [(r["step"], r[name]) for r in self.history if name in r]} for name in names}
        window = max(1, len(self.history) // 50)
        write_image(self.run_dir / CURVES_NAME,
                    draw_curves(panels, f"{self.run_dir.name}: losses by step (moving average of {window})",
                                smoothing=window))

    def close(self) -> None:
        self._file.close()
