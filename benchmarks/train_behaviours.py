"""Short training runs that compare the reference trainer's behaviour with fomm's named variants.

Every run trains the demo architecture with ``fomm train`` itself for ``--steps`` steps from the same seed
(same initial weights, same batches), differing only in ``train_params.warp_tps``, ``warp_align_corners`` and
``keypoints_one_pass``. Then each model reconstructs the held-out test videos (L1 on float predictions, as
``fomm eval``) next to the no-motion baseline. Prints a table per run and per variant (over ``--seeds``); writes
``comparison.png`` (loss curves of every variant's first seed) into each run folder, beside the ``losses.png``
that ``fomm train`` draws. Runs already in ``--out`` are scored again, not retrained.

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


def train_and_score(name: str, config: Path, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Train one run with ``fomm train`` (unless it is there already); its held-out L1 and last losses."""
    run = args.out / name
    if not (run / "model").is_dir():
        started = time.perf_counter()
        result = fomm("train", "--config", config, "--data", args.data, "--out", run, "--max-steps", args.steps,
                      "--workers", 1, "--seed", seed, "--log-every", 1, "--visualize-every", args.steps,
                      "--precision", args.precision, "--json", "-y")
        if result.returncode:
            sys.exit(f"{name}: {result.stderr}")
        print(f"{name}: trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    last = log[-50:]
    return {"held_out_l1": reconstruction_l1(run / "model", args.data / "test"),
            **{k: float(np.mean([r[k] for r in last])) for k in CURVES if k in last[0]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset root (made with `fomm data synth`)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="one run per variant and seed (seed 0 runs are named after the variant alone)")
    args = parser.parse_args()
    import torch

    torch.set_flush_denormal(True)
    if not args.data.is_dir():
        result = fomm("data", "synth", args.data, "--size", 64)
        if result.returncode:
            sys.exit(result.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, by_variant = {}, {}
    for variant in args.variants:
        config = write_config(args.out / f"{variant}.yaml", VARIANTS[variant])
        for seed in args.seeds:
            name = variant if seed == 0 else f"{variant}-seed{seed}"
            rows[name] = train_and_score(name, config, seed, args)
            by_variant.setdefault(variant, []).append(rows[name]["held_out_l1"])
    baseline = reconstruction_l1(None, args.data / "test")

    from fomm_cli.media.image import write_image
    from fomm_cli.train.plot import draw_curves

    first = {variant: variant if args.seeds[0] == 0 else f"{variant}-seed{args.seeds[0]}" for variant in by_variant}
    logs = {name: [json.loads(line) for line in (args.out / name / "log.jsonl").read_text().splitlines()]
            for name in first.values()}
    panels = {key: {name: [(r["step"], r[key]) for r in log if key in r] for name, log in logs.items()}
              for key in CURVES}
    picture = draw_curves(panels, f"{args.steps} steps, demo architecture, seed {args.seeds[0]}, moving average "
                                  "of 15", smoothing=15)
    for name in rows:
        write_image(args.out / name / "comparison.png", picture)

    print(f"held-out reconstruction L1 of the no-motion baseline: {baseline:.4f}")
    print("| run | held-out L1 | / baseline | " + " | ".join(f"{k} (last 50 steps)" for k in CURVES) + " |")
    print("|---" * (len(CURVES) + 3) + "|")
    for name, row in rows.items():
        cells = " | ".join(f"{row[k]:.4g}" if k in row else "-" for k in CURVES)
        print(f"| {name} | {row['held_out_l1']:.4f} | {row['held_out_l1'] / baseline:.3f} | {cells} |")
    print("\n| variant | runs | held-out L1, mean | min | max |\n|---|---|---|---|---|")
    for variant, values in by_variant.items():
        print(f"| {variant} | {len(values)} | {np.mean(values):.4f} | {min(values):.4f} | {max(values):.4f} |")
    print(json.dumps({"baseline_l1": baseline, "runs": rows}), file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
