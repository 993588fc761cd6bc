"""Speed and memory of `fomm animate` with Thin-Plate Spline Motion Models, against the reference-style loop.

The reference-style loop is what the authors' demo.py ``make_animation`` does: preload the whole driving video
as one float tensor, then for every frame run the keypoint detector, the dense motion network on the full
source (downscaled again each time) and the whole inpainting network (which re-encodes the source), one frame
at a time, in float32. The pipeline is ``fomm_cli.Animator`` on the TPSMM engine: the source encoded once,
ResNet BatchNorm folded, sub-pixel up blocks, channels-last, driving frames in batches, streamed.

Random weights of the full-size reference architecture (tpsmm-vox-256 at 256 px, tpsmm-ted-384 at 384 px),
denormals flushed; the source is a real photo and the driving frames are that photo moved and rotated. Timings
alternate reference and pipeline runs so both see the same machine load; ratios are of medians.

With --fomm PRESET, the FOMM pipeline (that preset, random weights) is timed in the same alternation at the
same size, for a side-by-side of the two families.

The memory test runs the whole `fomm animate` command with the 768 px fine-tune's architecture (random weights
in our format) at two video lengths, in a fresh process each, and reports the peak RSS.

    python benchmarks/tpsmm_speed.py                        # 256 and 384 px speed, 768 px memory
    python benchmarks/tpsmm_speed.py --quick                # fewer frames, no memory test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from animate_speed import child_peak_rss_mb, matmul_peak, psnr, real_photo_frames, timed

from fomm_cli.animate import Animator, to_tensor, to_uint8
from fomm_cli.config import ModelConfig, config_from_yaml
from fomm_cli.models import FirstOrderModel
from fomm_cli.models.tpsmm import TPSMotionModel
from fomm_cli.motion import movement_scale, transfer_keypoints
from fomm_cli.pretrained import preset_path


@torch.inference_mode()
def reference_loop(model: TPSMotionModel, source: np.ndarray, driving: list[np.ndarray]) -> np.ndarray:
    """demo.py's make_animation (relative mode), structure for structure."""
    source_t = to_tensor(source, torch.device("cpu"))
    video = torch.tensor(np.array(driving)[np.newaxis].astype(np.float32)).permute(0, 4, 1, 2, 3) / 255
    kp_source = model.kp_detector(source_t)
    kp_initial = model.kp_detector(video[:, :, 0])
    scale = movement_scale(kp_source, kp_initial)
    dense, inpainting = model.dense_motion_network, model.inpainting_network
    outputs = []
    for index in range(video.shape[2]):
        kp_norm = transfer_keypoints(kp_source, model.kp_detector(video[:, :, index]), kp_initial, scale=scale)
        motion = dense(dense.downscale(source_t), kp_norm, kp_source)
        outputs.append(to_uint8(inpainting(source_t, motion).prediction)[0])
    return np.stack(outputs)


def gflop_per_frame(model: TPSMotionModel, animator: Animator, source: np.ndarray,
                    driving: list[np.ndarray]) -> dict[str, float]:
    """FLOPs (multiply-add = 2) per driving frame: the reference loop's stages, and what the pipeline runs."""
    from torch.utils.flop_counter import FlopCounterMode

    image = to_tensor(source, torch.device("cpu"))
    dense, inpainting = model.dense_motion_network, model.inpainting_network
    counts = {}
    with torch.inference_mode():
        kp = model.kp_detector(image)
        motion = dense(dense.downscale(image), kp, kp)
        stages = {
            "keypoint_detector": lambda: model.kp_detector(image),
            "dense_motion": lambda: dense(dense.downscale(image), kp, kp),
            "inpainting_encoder": lambda: inpainting.encode(image),
            "inpainting_decoder": lambda: inpainting(image, motion),
        }
        for name, stage in stages.items():
            with FlopCounterMode(display=False) as counter:
                stage()
            counts[name] = counter.get_total_flops() / 1e9
    counts["inpainting_decoder"] -= counts["inpainting_encoder"]  # forward() includes the encoder
    counts["reference_per_frame"] = sum(counts.values())
    encoded = animator.encode_source(source)
    kp_reference = animator.keypoints(driving[0])
    with FlopCounterMode(display=False) as counter:
        animator.render(encoded, animator.keypoints(driving[:1]), kp_reference, 1.0)
    counts["pipeline_per_frame"] = counter.get_total_flops() / 1e9
    return counts


def speed(preset: str, frames: int, repeats: int, batch_size: int, precisions: list[str],
          fomm: str | None) -> dict:
    torch.manual_seed(0)
    config = config_from_yaml(preset_path(preset))
    size = config.image_size[0]
    model = TPSMotionModel(config).eval()
    source, driving = real_photo_frames(size, frames)
    animators = {p: Animator(model, "cpu", batch_size=batch_size, precision=p) for p in precisions}
    flops = gflop_per_frame(model, animators[precisions[0]], source, driving)
    print(f"\n## {preset} at {size}x{size}: GFLOP per frame " + ", ".join(f"{k} {v:.1f}" for k, v in flops.items()))
    if fomm is not None:
        fomm_config = ModelConfig.from_yaml(preset_path(fomm))
        fomm_config.image_size = (size, size)
        fomm_model = FirstOrderModel(fomm_config).eval()
        for p in precisions:
            animators[f"FOMM {fomm} {p}"] = Animator(fomm_model, "cpu", batch_size=batch_size, precision=p)
    times: dict[str, list[float]] = {"reference": [], **{p: [] for p in animators}}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        seconds, outputs["reference"] = timed(reference_loop, model, source, driving)
        times["reference"].append(seconds)
        for precision, animator in animators.items():
            seconds, outputs[precision] = timed(lambda a: np.stack(list(a.animate(source, iter(driving)))), animator)
            times[precision].append(seconds)
    per_frame = {k: statistics.median(v) / frames for k, v in times.items()}
    print(f"{'method':<34}{'s/frame':>10}{'fps':>8}{'speed-up':>10}{'GFLOP/s':>9}  quality")
    rows = {}
    for name, seconds in per_frame.items():
        ratio = per_frame["reference"] / seconds
        if name.startswith("FOMM"):  # another model: its frames are not comparable, its FLOPs not counted here
            print(f"{'pipeline ' + name:<34}{seconds:>10.3f}{1 / seconds:>8.2f}{ratio:>9.2f}x")
            rows[name] = {"seconds_per_frame": round(seconds, 4), "speedup": round(ratio, 3)}
            continue
        work = flops["reference_per_frame" if name == "reference" else "pipeline_per_frame"]
        diff = int(np.abs(outputs[name].astype(int) - outputs["reference"]).max())
        similarity = psnr(outputs[name], outputs["reference"])
        quality = "" if name == "reference" else f"max |diff| {diff} levels, PSNR {similarity:.1f} dB"
        label = "reference-style loop" if name == "reference" else f"pipeline {name}"
        print(f"{label:<34}{seconds:>10.3f}{1 / seconds:>8.2f}{ratio:>9.2f}x{work / seconds:>9.1f}  {quality}")
        rows[name] = {"seconds_per_frame": round(seconds, 4), "speedup": round(ratio, 3), "max_diff": diff,
                      "psnr_vs_reference": round(similarity, 2), "gflops": round(work / seconds, 1)}
    return {"size": size, "gflop_per_frame": flops, "results": rows}


def memory_768(lengths: list[int], batch_size: int, precision: str, threads: int) -> list[dict]:
    """Peak RSS of `fomm animate` with the 768 px architecture for each video length (fresh process each)."""
    from fomm_cli.checkpoints import save_pretrained
    from fomm_cli.media.image import write_image
    from fomm_cli.media.video import write_video

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        torch.manual_seed(0)
        save_pretrained(TPSMotionModel(config_from_yaml(preset_path("tpsmm-vox-768"))).eval(), workdir / "model")
        source, frames = real_photo_frames(768, 24)
        write_image(workdir / "source.png", source)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        for length in lengths:
            video = workdir / f"driving-{length}.mp4"
            write_video(video, (frames[i % len(frames)] for i in range(length)), 25)
            rss, seconds = child_peak_rss_mb(
                [sys.executable, "-m", "fomm_cli", "animate", str(workdir / "source.png"), str(video), "-o",
                 str(workdir / f"out-{length}.mp4"), "-c", str(workdir / "model"), "-y", "--device", "cpu",
                 "--batch-size", str(batch_size), "--precision", precision], env)
            rows.append({"frames": length, "peak_rss_mb": round(rss, 1), "seconds": round(seconds, 1)})
            print(f"  768 px, {length:>3} frames, batch {batch_size}, {precision}: peak RSS {rss:.0f} MB "
                  f"({seconds:.0f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tpsmm-vox-256,tpsmm-ted-384")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8, help="driving frames per timed run")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each method")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precisions", default="fp32,bf16", help="pipeline precisions to time")
    parser.add_argument("--fomm", help="also time the FOMM pipeline of this preset at the same sizes (vox-adv-256)")
    parser.add_argument("--lengths", default="16,32", help="video lengths for the 768 px memory test ('' to skip)")
    parser.add_argument("--memory-precision", default="fp32")
    parser.add_argument("--quick", action="store_true", help="4 frames, 1 repeat, no memory test")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeats, args.lengths = 4, 1, ""

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f"# TPSMM animate benchmark: {args.threads} threads, {args.frames} frames, batch {args.batch_size}, "
          f"torch {torch.__version__}")
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    report: dict[str, object] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__}, "matmul_peak_gflops": peaks, "frames": args.frames,
        "batch_size": args.batch_size,
        "speed": {preset: speed(preset, args.frames, args.repeats, args.batch_size, args.precisions.split(","),
                                args.fomm) for preset in args.presets.split(",")},
    }
    if args.lengths:
        lengths = [int(n) for n in args.lengths.split(",")]
        print("\npeak RSS of `fomm animate` with the 768 px model (full CLI run incl. decode and encode):")
        memory = memory_768(lengths, args.batch_size, args.memory_precision, args.threads)
        first, last = memory[0]["peak_rss_mb"], memory[-1]["peak_rss_mb"]
        print(f"  growth {lengths[0]} -> {lengths[-1]} frames: {100 * (last / first - 1):+.1f}%")
        report["memory_768"] = memory
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
