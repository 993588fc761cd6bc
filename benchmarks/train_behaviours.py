"""Short training runs that compare the reference trainer's behaviour with fomm's named variants.

Every run trains the demo architecture with ``fomm train`` itself for ``--steps`` steps from the same seed
(same initial weights, same batches), differing only in ``train_params.warp_tps``, ``warp_align_corners`` and
``keypoints_one_pass``. Then each model reconstructs the held-out test videos (L1 on float predictions, as
``fomm eval``) next to the no-motion baseline. Prints a table; writes ``comparison.png`` (loss curves of all
runs) into each run folder, beside the ``losses.png`` that ``fomm train`` draws.

    python benchmarks/train_behaviours.py --data data/synth --out runs/behaviours --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

# name -> (warp_tps, warp_align_corners, keypoints_one_pass)
VARIANTS = {
    "reference": ("reference", False, False),
    "previous": ("euclidean", True, True),
    "reference+exact_warp": ("reference", True, False),
    "reference+euclidean_tps": ("euclidean", False, False),
    "reference+one_pass": ("reference", False, True),
}
CURVES = ("rec_l1", "perceptual", "equivariance_value", "equivariance_jacobian", "total")


def fomm(*args: object) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "fomm"
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True, check=False)


def write_config(path: Path, variant: tuple[str, bool, bool]) -> Path:
    from fomm_cli.pretrained import preset_path

    config = yaml.safe_load(preset_path("demo").read_text())
    tps, align, one_pass = variant
    config["train_params"].update(warp_tps=tps, warp_align_corners=align, keypoints_one_pass=one_pass)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def reconstruction_l1(model_dir: Path | None, test: Path) -> float:
    """Held-out reconstruction L1 (float predictions) of a model, or of the no-motion baseline (None)."""
    from fomm_cli.checkpoints import load_model
    from fomm_cli.evaluate.extractors import Extractors, PairFeatures
    from fomm_cli.evaluate.pipeline import evaluate_baseline, evaluate_model

    class L1Only(Extractors):
        kind = "face"

        def __init__(self) -> None:
            self.sources, self.unavailable = {}, {"akd": "-", "mkr": "-", "aed": "-"}

        def pair(self, real: np.ndarray, generated: np.ndarray) -> PairFeatures:
            return PairFeatures(None, None, None, None)

    if model_dir is None:
        report = evaluate_baseline(test, L1Only(), inputs={})
    else:
        report = evaluate_model(load_model(model_dir), test, L1Only(), inputs={}, batch_size=16)
    value = report.metrics["l1"].value
    assert value is not None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset root (made with `fomm data synth`)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    import torch

    torch.set_flush_denormal(True)
    if not args.data.is_dir():
        result = fomm("data", "synth", args.data, "--size", 64)
        if result.returncode:
            sys.exit(result.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in args.variants:
        run = args.out / name
        config = write_config(args.out / f"{name}.yaml", VARIANTS[name])
        if not (run / "model").is_dir():
            started = time.perf_counter()
            result = fomm("train", "--config", config, "--data", args.data, "--out", run, "--max-steps", args.steps,
                          "--workers", 1, "--seed", 0, "--log-every", 1, "--visualize-every", args.steps,
                          "--precision", args.precision, "--json", "-y")
            if result.returncode:
                sys.exit(f"{name}: {result.stderr}")
            print(f"{name}: trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        last = log[-50:]
        rows[name] = {"held_out_l1": reconstruction_l1(run / "model", args.data / "test"),
                      **{k: float(np.mean([r[k] for r in last])) for k in CURVES if k in last[0]},
                      "sec_per_step": float(np.median([r["sec_per_step"] for r in log]))}
    baseline = reconstruction_l1(None, args.data / "test")

    from fomm_cli.media.image import write_image
    from fomm_cli.train.plot import draw_curves

    logs = {name: [json.loads(line) for line in (args.out / name / "log.jsonl").read_text().splitlines()]
            for name in rows}
    panels = {key: {name: [(r["step"], r[key]) for r in log if key in r] for name, log in logs.items()}
              for key in CURVES}
    picture = draw_curves(panels, f"{args.steps} steps, demo architecture, moving average of 15", smoothing=15)
    for name in rows:
        write_image(args.out / name / "comparison.png", picture)

    print(f"held-out reconstruction L1 of the no-motion baseline: {baseline:.4f}")
    print("| run | held-out L1 | / baseline | " + " | ".join(f"{k} (last 50)" for k in CURVES) + " | s/step |")
    print("|---" * (len(CURVES) + 4) + "|")
    for name, row in rows.items():
        cells = " | ".join(f"{row[k]:.4g}" if k in row else "-" for k in CURVES)
        print(f"| {name} | {row['held_out_l1']:.4f} | {row['held_out_l1'] / baseline:.3f} | {cells} | "
              f"{row['sec_per_step']:.2f} |")
    print(json.dumps({"baseline_l1": baseline, "runs": rows}), file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
