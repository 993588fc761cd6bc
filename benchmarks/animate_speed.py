"""Speed, FLOPs and memory of `fomm animate` against the reference-style loop, measured side by side.

The reference-style loop is what the authors' demo.py does: preload the whole driving video as one float
tensor, then for every frame run the keypoint detector and the full generator (which re-encodes the source
each time), one frame at a time, in float32. The pipeline is ``fomm_cli.Animator``: the source encoded once,
BatchNorm folded, channels-last, driving frames in batches, streamed.

Random weights (vox-256 architecture unless --config says otherwise) with denormals flushed; the source is a
real photo (skimage's astronaut) and the driving frames are that photo moved and rotated. Timings alternate
reference and pipeline runs so both see the same machine load; ratios are of medians.

    python benchmarks/animate_speed.py                 # everything, 2 threads
    python benchmarks/animate_speed.py --quick         # fewer frames and repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fomm_cli.animate import Animator, to_tensor, to_uint8
from fomm_cli.config import ModelConfig
from fomm_cli.models import FirstOrderModel
from fomm_cli.motion import movement_scale, transfer_keypoints
from fomm_cli.pretrained import preset_path


def real_photo_frames(size: int, count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Source: the astronaut's face; driving: the same photo shifted, rotated and zoomed a little per frame."""
    import cv2
    from skimage import data

    photo = data.astronaut()
    face = cv2.resize(photo[0:300, 90:390], (size, size), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        t = i / max(count - 1, 1)
        angle, scale = 8 * np.sin(2 * np.pi * t), 1 + 0.08 * np.sin(4 * np.pi * t)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += [0.05 * size * np.cos(2 * np.pi * t), 0.03 * size * np.sin(2 * np.pi * t)]
        frames.append(cv2.warpAffine(face, matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
    return face, frames


@torch.inference_mode()
def reference_loop(model: FirstOrderModel, source: np.ndarray, driving: list[np.ndarray]) -> np.ndarray:
    """demo.py's make_animation, structure for structure (relative motion with adapted scale)."""
    source_t = to_tensor(source, torch.device("cpu"))
    video = torch.tensor(np.array(driving)[np.newaxis].astype(np.float32)).permute(0, 4, 1, 2, 3) / 255
    kp_source = model.kp_detector(source_t)
    kp_initial = model.kp_detector(video[:, :, 0])
    scale = movement_scale(kp_source, kp_initial)
    outputs = []
    for index in range(video.shape[2]):
        kp_driving = model.kp_detector(video[:, :, index])
        kp_norm = transfer_keypoints(kp_source, kp_driving, kp_initial, scale=scale)
        outputs.append(to_uint8(model.generator(source_t, kp_norm, kp_source).prediction)[0])
    return np.stack(outputs)


def pipeline(animator: Animator, source: np.ndarray, driving: list[np.ndarray]) -> np.ndarray:
    return np.stack(list(animator.animate(source, iter(driving))))


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best achieved GFLOP/s of an n x n matmul: the machine's practical ceiling at this thread count."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def gflop_per_frame(model: FirstOrderModel, size: int) -> dict[str, float]:
    """FLOPs (multiply-add = 2) per driving frame, counted by torch for each stage."""
    from torch.utils.flop_counter import FlopCounterMode

    generator = model.generator
    image = torch.rand(1, 3, size, size)
    counts = {}
    with torch.inference_mode():
        kp = model.kp_detector(image)
        small = generator.dense_motion_network.downscale(image)
        features = generator.encode(image)
        motion = generator.dense_motion_network(small, kp, kp)
        warped = generator.transform(features, motion)
        stages = {
            "keypoint_detector": lambda: model.kp_detector(image),
            "dense_motion": lambda: generator.dense_motion_network(small, kp, kp),
            "generator_encoder": lambda: generator.encode(image),
            "bottleneck": lambda: generator.bottleneck(warped),
            "decoder": lambda: generator.decode(warped),
        }
        for name, stage in stages.items():
            with FlopCounterMode(display=False) as counter:
                stage()
            counts[name] = counter.get_total_flops() / 1e9
    counts["decoder"] -= counts["bottleneck"]  # decode() includes the bottleneck
    counts["reference_per_frame"] = sum(counts.values())
    return counts


def pipeline_gflop_per_frame(animator: Animator, source: np.ndarray, driving: list[np.ndarray]) -> float:
    """FLOPs per frame of what the pipeline actually runs (source encoded once, rewritten up-blocks)."""
    from torch.utils.flop_counter import FlopCounterMode

    encoded = animator.encode_source(source)
    kp_reference = animator.keypoints(driving[0])
    with FlopCounterMode(display=False) as counter:
        animator.render(encoded, animator.keypoints(driving[:1]), kp_reference, 1.0)
    return counter.get_total_flops() / 1e9


def stage_profile(animator: Animator, source: np.ndarray, driving: list[np.ndarray]) -> dict[str, float]:
    """Seconds per frame in each stage of the pipeline at its batch size."""
    batch = driving[: animator.batch_size]
    encoded = animator.encode_source(source)
    generator = animator.engine.model.generator
    results = {}
    with torch.inference_mode():
        frames = to_tensor(batch, animator.device)
        kp = animator.engine.model.kp_detector(frames)
        motion = generator.dense_motion_network(encoded.state.small, kp, encoded.keypoints.expand(len(batch)))
        warped = generator.transform(encoded.state.features, motion)
        bottleneck = generator.bottleneck(warped)
        stages = {
            "keypoint_detector": lambda: animator.engine.model.kp_detector(frames),
            "dense_motion": lambda: generator.dense_motion_network(encoded.state.small, kp,
                                                                   encoded.keypoints.expand(len(batch))),
            "warp_and_occlusion": lambda: generator.transform(encoded.state.features, motion),
            "bottleneck": lambda: generator.bottleneck(warped),
            "decoder": lambda: _decode_tail(generator, bottleneck),
        }
        for name, stage in stages.items():
            stage()
            start = time.perf_counter()
            stage()
            results[name] = (time.perf_counter() - start) / len(batch)
    return results


def _decode_tail(generator, features: torch.Tensor) -> torch.Tensor:
    out = features
    for block in generator.up_blocks:
        out = block(out)
    return torch.sigmoid(generator.final(out))


def child_peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a command run in a fresh process."""
    script = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
              "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", script, *cmd], env=env, capture_output=True, text=True, check=True)
    rss_kb, seconds = out.stdout.split()
    return int(rss_kb) / 1024, float(seconds)


def memory_vs_length(workdir: Path, lengths: list[int], threads: int) -> list[dict]:
    """Peak RSS of `fomm animate` (a small model at 256x256, so long videos finish quickly) and of the
    reference-style preload of the same video, for each video length."""
    from fomm_cli.checkpoints import save_pretrained
    from fomm_cli.media.image import write_image
    from fomm_cli.media.video import write_video

    config = ModelConfig.from_yaml(preset_path("vox-256"))
    config.num_kp = 10
    config.kp_detector.block_expansion, config.kp_detector.max_features = 8, 64
    config.generator.block_expansion, config.generator.max_features = 8, 64
    config.generator.num_bottleneck_blocks = 1
    config.generator.dense_motion.block_expansion, config.generator.dense_motion.max_features = 8, 64
    torch.manual_seed(0)
    save_pretrained(FirstOrderModel(config), workdir / "small")
    source, frames = real_photo_frames(256, 50)
    write_image(workdir / "source.png", source)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    rows = []
    for length in lengths:
        video = workdir / f"driving-{length}.mp4"
        write_video(video, (frames[i % len(frames)] for i in range(length)), 25)
        out = workdir / f"out-{length}.mp4"
        rss, seconds = child_peak_rss_mb([sys.executable, "-m", "fomm_cli", "animate", str(workdir / "source.png"),
                                          str(video), "-o", str(out), "-c", str(workdir / "small"), "-y",
                                          "--device", "cpu"], env)
        preload = ("import numpy as np, sys; from fomm_cli.media.video import read_frames; "
                   "v = read_frames(sys.argv[1]); x = np.array(v)[None].astype(np.float32)")
        ref_rss, _ = child_peak_rss_mb([sys.executable, "-c", preload, str(video)], env)
        rows.append({"frames": length, "pipeline_peak_rss_mb": round(rss, 1), "pipeline_seconds": round(seconds, 1),
                     "reference_preload_peak_rss_mb": round(ref_rss, 1)})
    return rows


def startup_seconds(repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fomm_cli", "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="vox-256", help="preset or YAML for the timed model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16, help="driving frames per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each method")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precisions", default="fp32,bf16", help="pipeline precisions to time")
    parser.add_argument("--lengths", default="150,600", help="video lengths for the memory test ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="8 frames, 1 repeat, no memory test")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeats, args.lengths = 8, 1, ""

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    config = ModelConfig.from_yaml(preset_path(args.config))
    size = config.image_size[0]
    model = FirstOrderModel(config).eval()
    source, driving = real_photo_frames(size, args.frames)
    report: dict[str, object] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "bf16_fast": torch.backends.mkldnn.is_available()},
        "model": args.config, "size": size, "frames": args.frames, "batch_size": args.batch_size,
    }

    print(f"# fomm animate benchmark: {args.config} at {size}x{size}, {args.threads} threads, "
          f"{args.frames} frames, torch {torch.__version__}")
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"matmul peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    flops = gflop_per_frame(model, size)
    print("GFLOP per frame: " + ", ".join(f"{k} {v:.1f}" for k, v in flops.items()))

    animators = {p: Animator(model, "cpu", batch_size=args.batch_size, precision=p)
                 for p in args.precisions.split(",")}
    flops["pipeline_per_frame"] = pipeline_gflop_per_frame(next(iter(animators.values())), source, driving)
    print(f"GFLOP per frame actually run by the pipeline: {flops['pipeline_per_frame']:.1f}")
    times: dict[str, list[float]] = {"reference": [], **{p: [] for p in animators}}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        seconds, outputs["reference"] = timed(reference_loop, model, source, driving)
        times["reference"].append(seconds)
        for precision, animator in animators.items():
            seconds, outputs[precision] = timed(pipeline, animator, source, driving)
            times[precision].append(seconds)
    per_frame = {k: statistics.median(v) / args.frames for k, v in times.items()}
    print(f"\n{'method':<24}{'s/frame':>10}{'fps':>8}{'speed-up':>10}{'GFLOP/s':>9}{'% of peak':>10}  quality")
    rows = {}
    for name, seconds in per_frame.items():
        work = flops["reference_per_frame"] if name == "reference" else flops["pipeline_per_frame"]
        peak = peaks["bf16" if name in ("bf16", "fp16") else "fp32"]
        diff = int(np.abs(outputs[name].astype(int) - outputs["reference"]).max())
        similarity = psnr(outputs[name], outputs["reference"])
        quality = "" if name == "reference" else f"max |diff| {diff} levels, PSNR {similarity:.1f} dB"
        ratio = per_frame["reference"] / seconds
        label = "reference-style loop" if name == "reference" else f"pipeline {name}"
        print(f"{label:<24}{seconds:>10.3f}{1 / seconds:>8.2f}{ratio:>9.2f}x{work / seconds:>9.1f}"
              f"{100 * work / seconds / peak:>9.1f}%  {quality}")
        rows[name] = {"seconds_per_frame": round(seconds, 4), "speedup": round(ratio, 3), "max_diff": diff,
                      "psnr_vs_reference": round(similarity, 2),
                      "gflops": round(work / seconds, 1)}

    fp32 = animators.get("fp32") or next(iter(animators.values()))
    start = time.perf_counter()
    next(iter(fp32.animate(source, iter(driving))))
    first = time.perf_counter() - start
    print(f"\ntime to first frame (model loaded, pipeline fp32): {first:.2f} s")
    for precision, animator in animators.items():
        print(f"pipeline stages, s/frame ({precision}): "
              + ", ".join(f"{k} {v:.3f}" for k, v in stage_profile(animator, source, driving).items()))
    startup = startup_seconds()
    print(f"`fomm --help` start-up: {startup:.2f} s")
    report.update({"matmul_peak_gflops": peaks, "gflop_per_frame": flops, "results": rows,
                   "time_to_first_frame": first, "help_startup": startup})

    if args.lengths:
        lengths = [int(n) for n in args.lengths.split(",")]
        with tempfile.TemporaryDirectory() as tmp:
            memory = memory_vs_length(Path(tmp), lengths, args.threads)
        print("\npeak RSS by video length (small model, 256x256, full CLI run incl. decode and encode):")
        for row in memory:
            print(f"  {row['frames']:>4} frames: fomm animate {row['pipeline_peak_rss_mb']:.0f} MB "
                  f"({row['pipeline_seconds']:.0f} s); reference-style preload alone "
                  f"{row['reference_preload_peak_rss_mb']:.0f} MB")
        first_rss, last_rss = memory[0]["pipeline_peak_rss_mb"], memory[-1]["pipeline_peak_rss_mb"]
        print(f"  pipeline growth {lengths[0]} -> {lengths[-1]} frames: {100 * (last_rss / first_rss - 1):+.1f}%")
        report["memory"] = memory
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
