"""JPEG decoders side by side: bytes in memory -> RGB uint8 array, one thread, images/second.

Reads ``--images`` JPEGs of an ImageFolder tree into memory (every 5th file in sorted order, so
all classes appear), then times each decoder over all of them: the median of ``--repeats``
passes, the decoders' passes interleaved round by round (so load on shared cores hits all alike),
CPU time of this process (``time.process_time``). Each row also says how far its pixels are from
an accurate full decode (libjpeg-turbo's accurate integer IDCT and smooth upsampling):

* full-size decoders: against simplejpeg's accurate decode of the same file;
* DCT-scaled decodes (libjpeg-turbo's scaled IDCT, 1/2, 1/4 or 1/8 of the size): against the
  accurate full decode resized to the same size with antialiased bilinear (augkit's
  definition of a resize), per file, then pooled: mean absolute difference and PSNR.

Rows (a row appears when its library is importable):

* Pillow: ``Image.open`` + ``convert("RGB")`` + ``asarray`` (augkit's decoder before simplejpeg,
  still its decoder for every other format);
* Pillow draft: the same after ``draft("RGB", ...)`` to the scale of ``--min-side``;
* OpenCV ``imdecode`` (what albumentations users call) + BGR -> RGB;
* simplejpeg accurate; simplejpeg fast IDCT; simplejpeg fast IDCT + fast upsampling;
* simplejpeg DCT-scaled so the shorter side stays >= ``--min-side`` (the power-of-two scales
  only: libjpeg-turbo's 3/8, 5/8, 3/4, 7/8 scales run without SIMD and decode slower than
  full size; ``--all-scales`` adds a row per M/8 scale to show it);
* PyTurboJPEG (libjpeg-turbo's TurboJPEG API, needs the system library): decode, and a lossless
  MCU-aligned crop of the window a typical scale-crop reads (crop 112 of L = 184 at a random
  offset) followed by a decode of that crop: the one way to skip the rows and columns a crop does
  not need that a Python wheel exposes.

    python benchmarks/jpeg_decode.py --photos ../shared/data/flowers/train [--images 600]
        [--repeats 5] [--min-side 128] [--all-scales] [--out docs/results/jpeg_decode.md]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aug_throughput import machine, publish

try:
    import simplejpeg
except ImportError:
    simplejpeg = None


def read_photos(root: Path, n_images: int) -> list[bytes]:
    """The bytes of ``n_images`` JPEGs of ``root`` (every 5th file in sorted order, cycling)."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"no JPEG files under {str(root)!r}")
    order = files[::5] + [f for i, f in enumerate(files) if i % 5]
    return [order[i % len(order)].read_bytes() for i in range(n_images)]


def resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of an H x W x 3 uint8 image (augkit's definition)."""
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(tensor, size=size, mode="bilinear", antialias=True)
    return out[0].permute(1, 2, 0).numpy()


def scaled_side(height: int, width: int, min_side: int) -> tuple[int, int]:
    """The (min_height, min_width) that makes simplejpeg pick the smallest power-of-two DCT scale
    keeping the shorter side >= min_side."""
    k = 1
    while k < 8 and min(height, width) // (2 * k) >= min_side:
        k *= 2
    return -(-height // k), -(-width // k)


def decoders(min_side: int, all_scales: bool) -> dict[str, Callable[[bytes], np.ndarray]]:
    """name -> decode(bytes) -> H x W x 3 uint8."""
    def pillow(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def pillow_draft(data: bytes) -> np.ndarray:
        image = Image.open(io.BytesIO(data))
        height, width = scaled_side(image.height, image.width, min_side)
        image.draft("RGB", (width, height))
        return np.asarray(image.convert("RGB"))

    rows = {"Pillow": pillow, f"Pillow draft, shorter side >= {min_side}": pillow_draft}
    try:
        import cv2

        cv2.setNumThreads(0)
        rows["OpenCV imdecode"] = lambda data: cv2.cvtColor(
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    except ImportError:
        pass
    if simplejpeg is not None:
        rows["simplejpeg"] = lambda data: simplejpeg.decode_jpeg(data)
        rows["simplejpeg, fast IDCT"] = lambda data: simplejpeg.decode_jpeg(data, fastdct=True)
        rows["simplejpeg, fast IDCT + fast upsampling"] = lambda data: simplejpeg.decode_jpeg(
            data, fastdct=True, fastupsample=True)

        def scaled(data: bytes, fast: bool = False) -> np.ndarray:
            height, width = simplejpeg.decode_jpeg_header(data)[:2]
            min_height, min_width = scaled_side(height, width, min_side)
            return simplejpeg.decode_jpeg(data, min_height=min_height, min_width=min_width,
                                          fastdct=fast, fastupsample=fast)

        rows[f"simplejpeg DCT-scaled, shorter side >= {min_side}"] = scaled
        rows[f"simplejpeg DCT-scaled, shorter side >= {min_side}, fast"] = lambda data: scaled(data, True)
        if all_scales:
            for m in range(1, 8):
                def eighths(data: bytes, m: int = m) -> np.ndarray:
                    height, width = simplejpeg.decode_jpeg_header(data)[:2]
                    return simplejpeg.decode_jpeg(data, min_height=-(-height * m // 8), min_width=-(-width * m // 8))
                rows[f"simplejpeg DCT-scaled to {m}/8"] = eighths
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG

        turbo = TurboJPEG()
        rows["PyTurboJPEG"] = lambda data: turbo.decode(data, pixel_format=TJPF_RGB)
        rows["PyTurboJPEG, lossless crop of the window + decode"] = lambda data: turbo.decode(
            turbo.crop(data, *_window(turbo.decode_header(data)[:2])), pixel_format=TJPF_RGB)
    except (ImportError, RuntimeError, OSError):  # no module, or no system libturbojpeg
        pass
    return rows


def _window(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, w, h) in source pixels, MCU-aligned (16 px), of what a 112 crop of L = 184 reads."""
    width, height = size
    rng = np.random.default_rng(width * 7919 + height)
    scale = min(height, width) / 184
    span = 112 * scale + 2 * scale  # the window plus the filter's reach
    x, y = rng.uniform(0, max(width - span, 0)), rng.uniform(0, max(height - span, 0))
    x0, y0 = int(x) // 16 * 16, int(y) // 16 * 16
    return x0, y0, min(width - x0, int(x + span) + 1 - x0), min(height - y0, int(y + span) + 1 - y0)


def distance(name: str, data: list[bytes], decode: Callable[[bytes], np.ndarray]) -> tuple[float, float] | None:
    """(mean absolute difference, PSNR dB) of ``decode`` against the accurate full decode."""
    if simplejpeg is None or name == "simplejpeg" or "crop" in name:
        return None
    total_abs = total_sq = count = 0.0
    for item in data:
        reference = simplejpeg.decode_jpeg(item)
        out = decode(item)
        if out.shape != reference.shape:
            reference = resized(reference, out.shape[:2])
        diff = out.astype(np.float64) - reference
        total_abs += np.abs(diff).sum()
        total_sq += (diff**2).sum()
        count += diff.size
    mse = total_sq / count
    return total_abs / count, (10 * np.log10(255**2 / mse) if mse else float("inf"))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True, help="an ImageFolder tree of JPEG photos")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-side", type=int, default=128, help="shorter side the DCT-scaled rows keep")
    parser.add_argument("--all-scales", action="store_true", help="also time every M/8 DCT scale")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = read_photos(args.photos, args.images)
    rows = decoders(args.min_side, args.all_scales)
    times = {name: [] for name in rows}
    for decode in rows.values():  # warm-up
        decode(data[0])
    for _ in range(args.repeats):
        for name, decode in rows.items():
            start = time.process_time()
            for item in data:
                decode(item)
            times[name].append(time.process_time() - start)
    rates = {name: len(data) / statistics.median(t) for name, t in times.items()}
    command = "python benchmarks/jpeg_decode.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"JPEG decode, bytes in memory -> RGB uint8, {len(data)} files of {args.photos}, one thread, "
             f"median of {args.repeats} passes (CPU time)", "", f"`{command}`", "", f"Machine: {machine()}", "",
             "| decoder | images/s | vs Pillow | mean abs. diff. | PSNR (dB) |", "|---|---:|---:|---:|---:|"]
    results = []
    for name, decode in rows.items():
        far = distance(name, data, decode)
        mad, psnr = ("", "") if far is None else (f"{far[0]:.3f}", f"{far[1]:.1f}")
        lines.append(f"| {name} | {rates[name]:,.0f} | {rates[name] / rates['Pillow']:.2f}x | {mad} | {psnr} |")
        results.append({"decoder": name, "images_per_s": rates[name], "distance": far})
    lines += ["", "Distances: against simplejpeg's accurate full decode, resized with antialiased bilinear to the "
              "decoded size for the DCT-scaled rows; the crop row has none (it decodes a part)."]
    text = "\n".join(lines)
    publish(text, args.out)
    return results


if __name__ == "__main__":
    main()
