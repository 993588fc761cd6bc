"""Keypoint smoothing: jitter and step-response lag of the keypoints that drive the source, with and without it.

1. Keypoint-level jitter of known size. Smooth driving motions (still; a slow sway, 0.05 at 0.3 Hz; a head
   turn, 0.1 at 0.5 Hz; the sway with 3 Hz lip-like motion of 0.015 on top) of 10 keypoints with jacobians,
   10 s at 25 fps, plus independent Gaussian jitter: sigma 0.005 per coordinate ([-1, 1] units: 0.64 px at
   256 px) and 0.02 per jacobian entry (the ratio the demo model shows under pixel noise); then other sigmas.
   Step: every keypoint jumps by 0.02 ... 0.2 in a random direction and its jacobian turns by 0.2 rad, once,
   with the same jitter.
2. Real detectors under Gaussian pixel noise: the trained demo model on a frame of examples/driving.mp4
   swaying smoothly, and on the video as it is (fast motion); the parity fixture's random-weight checkpoint
   on its still frame; a cut between two poses of the demo video as the step.
3. End to end: a still driving frame with pixel noise, animated by the demo model: mean frame-to-frame change
   of the output (uint8 levels), which is 0 for a perfectly still result.

Measures (``fomm_cli.smoothing.frame_jitter`` and ``step_lag``), on the keypoints MotionTransfer hands to the
generator (relative motion, adapted scale): jitter = RMS frame-to-frame change of their error against the
same transfer of the clean driving, in [-1, 1] units (Frobenius for jacobians), with its ratio to no
smoothing; cost = RMS error on the clean driving, i.e. how far smoothing moves motion that had no jitter;
lag = frames after the step until 90 % of the way (0 = no lag; at 25 fps one frame is 40 ms).

    python benchmarks/motion_smoothing.py           # about a minute on one core
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from fomm_cli.controls import DEFAULT_STRENGTH
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import MotionTransfer, log_polar_to_jacobian
from fomm_cli.smoothing import KeypointSmoother, frame_jitter, step_lag

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
SIGMA, JACOBIAN_SIGMA = 0.005, 0.02
MOTIONS = ("still", "sway", "turn", "speech")


def synthetic_motion(kind: str, frames: int = 250, keypoints: int = 10, seed: int = 0) -> Keypoints:
    """Clean driving keypoints: positions in [-0.6, 0.6] moving smoothly, jacobians rotating and scaling."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=torch.float64)[:, None, None] / FPS
    phase = 2 * math.pi * torch.rand(1, keypoints, 6, generator=gen, dtype=torch.float64)
    amplitude, frequency = {"still": (0.0, 0.3), "sway": (0.05, 0.3), "turn": (0.1, 0.5),
                            "speech": (0.05, 0.3)}[kind]
    wave = torch.sin(2 * math.pi * frequency * t + phase)  # T x K x 6
    base = (torch.rand(1, keypoints, 2, generator=gen, dtype=torch.float64) - 0.5) * 1.2
    value = base + amplitude * wave[..., :2]
    if kind == "speech":  # lips: a faster, smaller motion on top
        value = value + 0.015 * torch.sin(2 * math.pi * 3 * t + 2 * phase[..., :2])
    # rotation up to 0.3 rad, log scale 0.05, log stretch 0.05 (per 0.1 of sway amplitude)
    params = amplitude * 10 * wave[..., 2:] * torch.tensor([0.3, 0.05, 0.05, 0.05], dtype=torch.float64)
    jacobian = log_polar_to_jacobian(params, torch.zeros(params.shape[:-1], dtype=torch.bool))
    return Keypoints(value.float(), jacobian.float())


def step_motion(size: float, frames: int = 40, at: int = 10, keypoints: int = 10, seed: int = 1) -> Keypoints:
    gen = torch.Generator().manual_seed(seed)
    angle = 2 * math.pi * torch.rand(keypoints, generator=gen)
    value = ((torch.rand(keypoints, 2, generator=gen) - 0.5) * 1.2).expand(frames, -1, -1).clone()
    value[at:] += size * torch.stack([angle.cos(), angle.sin()], -1)
    params = torch.zeros(frames, keypoints, 4)
    params[at:, :, 0] = 0.2
    return Keypoints(value, log_polar_to_jacobian(params, torch.zeros(frames, keypoints, dtype=torch.bool)))


def jittered(kp: Keypoints, sigma: float = SIGMA, jacobian_sigma: float = JACOBIAN_SIGMA,
             seed: int = 2) -> Keypoints:
    gen = torch.Generator().manual_seed(seed)
    value = kp.value + sigma * torch.randn(kp.value.shape, generator=gen)
    assert kp.jacobian is not None
    return Keypoints(value, kp.jacobian + jacobian_sigma * torch.randn(kp.jacobian.shape, generator=gen))


def transferred(driving: Keypoints, reference: Keypoints, strength: float | None, batch: int = 8) -> Keypoints:
    """The keypoints MotionTransfer makes for ``driving``, fed in batches; the source is the reference
    moved and enlarged a little (adapted scale about 1.1)."""
    source = Keypoints(reference.value * 1.1 + 0.02, reference.jacobian)
    smoother = None if strength is None else KeypointSmoother(strength)
    transfer = MotionTransfer(source, reference, smoother=smoother)
    return Keypoints.cat([transfer(driving[i:i + batch]) for i in range(0, len(driving), batch)])


def measure(clean: Keypoints, noisy: Keypoints, strength: float | None) -> dict[str, float]:
    """Jitter of positions and jacobians on the noisy driving, cost on the clean one (same reference)."""
    reference = noisy[:1]
    truth = transferred(clean, reference, None)
    result = transferred(noisy, reference, strength)
    smoothed_clean = transferred(clean, reference, strength)
    cost = (smoothed_clean.value - truth.value).double().square().sum(-1).mean().sqrt()
    return {"jitter": frame_jitter(result.value, truth.value),
            "jacobian_jitter": frame_jitter(result.jacobian, truth.jacobian, point_dims=2),
            "cost": float(cost)}


def lags(strength: float | None, size: float) -> tuple[int, int]:
    """(position lag, jacobian lag) of the worst keypoint in the mean response over 20 jitter draws (single
    draws cross 90 % early or late by chance); 30 frames before the step, for the jitter estimate."""
    clean = step_motion(size, frames=60, at=30)
    draws = [jittered(clean, seed=s) for s in range(20)]
    results = [transferred(driving, driving[:1], strength) for driving in draws]
    value = torch.stack([r.value for r in results]).mean(0)
    jacobian = torch.stack([r.jacobian for r in results]).mean(0)
    ideal = transferred(clean, clean[:1], None)
    return (int(step_lag(value, ideal.value[0], ideal.value[-1], 30).max()),
            int(step_lag(jacobian, ideal.jacobian[0], ideal.jacobian[-1], 30, point_dims=2).max()))


def synthetic_report(strengths: list[float | None]) -> None:
    print(f"## 1. keypoint jitter sigma {SIGMA} per coordinate, {JACOBIAN_SIGMA} per jacobian entry; "
          f"10 keypoints, {FPS} fps")
    results = {motion: {s: measure(synthetic_motion(motion), jittered(synthetic_motion(motion)), s)
                        for s in strengths} for motion in MOTIONS}
    print("\nposition jitter (ratio to no smoothing) | jacobian jitter ratio | cost on clean driving (RMS, units)")
    print(f"{'strength':>10}" + "".join(f"{m:>16}" for m in MOTIONS) + "   jac " + " ".join(f"{m:>7}" for m in MOTIONS)
          + "   cost " + " ".join(f"{m:>7}" for m in MOTIONS))
    for s in strengths:
        row = f"{label(s):>10}"
        for m in MOTIONS:
            r, base = results[m][s], results[m][None]
            row += f"{r['jitter']:>9.4f} ({r['jitter'] / base['jitter']:.2f})"
        row += "   jac " + " ".join(f"{results[m][s]['jacobian_jitter'] / results[m][None]['jacobian_jitter']:>7.2f}"
                               for m in MOTIONS)
        row += "   cost " + " ".join(f"{results[m][s]['cost']:>7.4f}" for m in MOTIONS)
        print(row)
    sizes = (0.02, 0.05, 0.1, 0.2)
    print("\nstep lag with the jitter above, frames to 90 % (worst keypoint of the mean response of 20 draws; "
          "position / jacobian, which turns 0.2 rad). Without jitter every lag is 0.")
    print(f"{'strength':>10}" + "".join(f"{'step ' + str(a):>12}" for a in sizes))
    for s in strengths:
        print(f"{label(s):>10}" + "".join(f"{v:>8} /{j:>2}" for v, j in (lags(s, a) for a in sizes)))
    print("\nother jitter sizes, sway: position jitter ratio to no smoothing (cost on clean driving)")
    sigmas = (0.0025, 0.01, 0.02)
    print(f"{'strength':>10}" + "".join(f"{'sigma ' + str(g):>20}" for g in sigmas))
    for s in strengths[1:]:
        row = f"{label(s):>10}"
        for g in sigmas:
            clean = synthetic_motion("sway")
            noisy = jittered(clean, g, 4 * g)
            r, base = measure(clean, noisy, s), measure(clean, noisy, None)
            row += f"{r['jitter'] / base['jitter']:>12.2f} ({r['cost']:.4f})"
        print(row)


def swayed(frame: np.ndarray, count: int = 100) -> np.ndarray:
    """``frame`` moved smoothly: a 0.3 Hz sway of +-2 px and +-4 degrees (at 64 px), 25 fps."""
    import cv2

    size = frame.shape[0]
    out = []
    for i in range(count):
        wave = math.sin(2 * math.pi * 0.3 * i / FPS)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 4 * wave, 1.0)
        matrix[:, 2] += [2 * wave, math.cos(2 * math.pi * 0.3 * i / FPS)]
        out.append(cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def noisy(frames: np.ndarray, level: float, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return np.clip(frames + gen.normal(0, level, frames.shape), 0, 255).round().astype(np.uint8)


def detector_report(strengths: list[float | None]) -> None:
    from fomm_cli.animate import Animator
    from fomm_cli.checkpoints import load_model
    from fomm_cli.media.video import iter_frames
    from fomm_cli.pretrained import load_pretrained

    print("\n## 2. real detectors, Gaussian pixel noise (levels of 255)")
    demo = load_pretrained("demo").model
    parity = load_model(ROOT / "tests/fixtures/parity/a.pth.tar")
    parity.config.image_size = (64, 64)
    video = np.stack(list(iter_frames(ROOT / "examples/driving.mp4")))
    parity_frame = np.load(ROOT / "tests/fixtures/parity/driving.npy")[0]
    cases = [("demo model, examples/driving.mp4 frame 0 swaying", demo, swayed(video[0]), 8),
             ("demo model, examples/driving.mp4 frame 0 swaying", demo, swayed(video[0]), 16),
             ("demo model, examples/driving.mp4 as it is (fast motion)", demo, video, 8),
             ("parity a (random weights), still frame", parity, parity_frame[None].repeat(100, 0), 2)]
    for name, model, frames, level in cases:
        animator = Animator(model, "cpu", batch_size=16)
        clean_kp, noisy_kp = animator.keypoints(list(frames)), animator.keypoints(list(noisy(frames, level, 0)))
        base = measure(clean_kp, noisy_kp, None)
        print(f"\n{name}, pixel noise {level}: keypoint noise "
              f"{float((noisy_kp.value - clean_kp.value).std()):.4f} per coordinate")
        for s in strengths[1:]:
            r = measure(clean_kp, noisy_kp, s)
            print(f"  {label(s):>8}: jitter {r['jitter']:.4f} ({r['jitter'] / base['jitter']:.2f} of "
                  f"{base['jitter']:.4f}), jacobian {r['jacobian_jitter'] / base['jacobian_jitter']:.2f}, "
                  f"cost on clean {r['cost']:.4f}")

    animator = Animator(demo, "cpu", batch_size=16)
    cut = np.concatenate([video[:1].repeat(30, 0), video[48:49].repeat(20, 0)])
    ends = animator.keypoints([video[0], video[48]])
    ideal = transferred(ends, ends[:1], None)
    moved = (ideal.value[1] - ideal.value[0]).norm(dim=-1) > 0.05
    print(f"\ndemo model, cut from frame 0 to frame 48 at frame 30, pixel noise 8: lag of the mean response of "
          f"10 draws, frames to 90 % ({int(moved.sum())} keypoints moving > 0.05: median / worst)")
    for s in strengths:
        results = [transferred(animator.keypoints(list(noisy(cut, 8, seed))), ends[:1], s) for seed in range(10)]
        mean = torch.stack([r.value for r in results]).mean(0)
        lag = step_lag(mean, ideal.value[0], ideal.value[1], 30)[moved]
        print(f"  {label(s):>8}: {float(lag.float().median()):.0f} / {int(lag.max())}")


def end_to_end_report(strengths: list[float | None]) -> None:
    from fomm_cli.animate import Animator
    from fomm_cli.media.image import read_image
    from fomm_cli.media.video import iter_frames
    from fomm_cli.pretrained import load_pretrained

    print("\n## 3. end to end: demo model, still driving frame + pixel noise 8, 50 frames")
    model = load_pretrained("demo").model
    source = read_image(ROOT / "examples/source.png")
    frame = next(iter(iter_frames(ROOT / "examples/driving.mp4")))
    gen = np.random.default_rng(1)
    noisy = np.clip(frame + gen.normal(0, 8, (50, *frame.shape)), 0, 255).round().astype(np.uint8)
    for s in strengths:
        out = np.stack(list(Animator(model, "cpu", batch_size=8, smoothing=s).animate(source, iter(noisy))))
        change = np.abs(np.diff(out.astype(np.int16), axis=0)).mean()
        print(f"  {label(s):>8}: mean |frame-to-frame change| of the output {change:.3f} levels")


def label(strength: float | None) -> str:
    if strength is None:
        return "off"
    return f"{strength:g}" + (" (dflt)" if strength == DEFAULT_STRENGTH else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", default="1,2,3,4,8", help="comma-separated strengths besides off")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    strengths: list[float | None] = [None, *(float(s) for s in args.strengths.split(","))]
    synthetic_report(strengths)
    detector_report(strengths)
    end_to_end_report(strengths)


if __name__ == "__main__":
    main()
