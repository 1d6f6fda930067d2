"""Window-only antialiased bilinear resampling of uint8 images: torch's uint8 kernel, exactly.

:func:`resample_windows` computes, for each image of a batch, the output pixels of one window of
``torch.nn.functional.interpolate(image, mode="bilinear", antialias=True)`` at an explicit scale,
and nothing else: it reads only the rows and columns the window's filter taps reach, and writes
the (optionally flipped) window straight into a channels-first uint8 batch. The result is
bit-identical to torch's CPU uint8 kernel on the whole image followed by the crop (tested on
random images, every layout, flips, windows at every corner, enlarging and shrinking):

* the weights are torch's (``_compute_indices_min_size_weights_aa`` of the triangle filter in
  float64, normalised per output pixel), turned into int16 fixed point with torch's precision,
  which depends on the largest weight over the whole resized axis, not only the window's;
* the horizontal pass runs first and rounds to uint8, then the vertical pass, as torch's
  separable kernel does; each pass adds ``2**(precision - 1)``, shifts right and clamps.

Why a kernel of its own: torch's kernel places output pixel ``i`` at ``scale (i + 1/2)`` from its
input's first column and row, so a window away from the image corner costs all the rows and
columns between the corner and the window. Here only the window is computed, whatever its
position, in any input layout (a channels-last view, a contiguous channels-first batch, a single
H x W x C array), with no conversion copy. Measured on the 427 x 640 scikit-learn photos (64
random draws of a crop 224 of a shorter side L in [256, 480], one thread, CPU time per image,
``python benchmarks/window_kernel.py``, shared cores, two runs): 141-155 us from channels-last
and 129-146 us from channels-first input, against 205-280 us for torch's kernel on the
corner-anchored region the same windows need (channels-last input; channels-first input needs
an interleaving copy there too). Per output pixel torch's hand-written SIMD is still faster: a
window at the image corner, its best case, costs it 103-130 us. Importing this module compiles
it once (10-15 s) or loads numba's on-disk cache (about 1 s per process; DataLoader workers
forked after the first use inherit it).

How it is fast (numba, compiled once per process and cached on disk next to this file):

* horizontal pass: outputs in blocks of 16 consecutive columns; each input column of a block's
  span is broadcast and multiplied with the 16 lanes' weights (zero where a lane's filter does
  not reach it), float32 multiply-adds that LLVM's SLP vectoriser packs into one 16-lane
  register per row and channel, two rows per load of the weights. The sums are integers below
  2**24 (checked per image), so float32 holds them exactly and the floor of
  ``sum / 2**precision`` is torch's shift; an image whose sums could exceed 2**24 (a shrink by
  more than about 3x) takes the same pass in int32, unvectorised;
* vertical pass: whole rows of the horizontal result, int32, vectorised by LLVM's loop vectoriser.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_LANES = 16  # outputs per horizontal block: one AVX-512 register of float32
_EXACT_FLOAT = 1 << 24  # float32 holds every integer below this exactly

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _axis_taps(in_size, scale, start, count, reverse):
    """torch's antialiased-bilinear taps of ``count`` output pixels from ``start`` on one axis.

    ``scale``: input pixels per output pixel. Output ``i`` is centred at ``scale (i + 1/2)``; the
    triangle filter is widened to ``scale`` when shrinking; taps are clamped to the image. The
    int16 precision follows torch: the largest normalised weight over every output pixel whose
    centre lies on the image (``round(in_size / scale)`` of them) sets it. ``reverse`` lists the
    outputs last to first (a flip). Returns ``(first tap, tap count, int32 weights [count, K],
    precision)``.
    """
    support = scale if scale >= 1.0 else 1.0
    kmax = math.ceil(support) * 2 + 1
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    out_len = max(round(in_size / scale), start + count)
    raw = np.zeros(kmax)
    taps_first = np.empty(out_len, np.int64)
    taps_size = np.empty(out_len, np.int64)
    normalised = np.zeros((out_len, kmax))
    wt_max = 0.0
    for i in range(out_len):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xsize = min(max(min(int(center + support + 0.5), in_size) - xmin, 0), kmax)
        total = 0.0
        for j in range(xsize):
            x = abs((j + xmin - center + 0.5) * invscale)
            raw[j] = 1.0 - x if x < 1.0 else 0.0
            total += raw[j]
        taps_first[i] = xmin
        taps_size[i] = xsize
        if total != 0.0:
            for j in range(xsize):
                normalised[i, j] = raw[j] / total
                wt_max = max(wt_max, normalised[i, j])
    precision = 0
    while precision < 22 and int(0.5 + wt_max * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    first = np.empty(count, np.int64)
    size = np.empty(count, np.int64)
    weights = np.zeros((count, kmax), np.int32)
    for t in range(count):
        i = start + (count - 1 - t if reverse else t)
        first[t] = taps_first[i]
        size[t] = taps_size[i]
        for j in range(taps_size[i]):
            v = normalised[i, j] * (1 << precision)
            weights[t, j] = int(-0.5 + v) if v < 0 else int(0.5 + v)
    return first, size, weights, precision


@_jit
def _lane_table(first, size, weights, in_size):
    """The horizontal taps as dense blocks of ``_LANES`` outputs: block ``b`` reads input columns
    ``start[b] .. start[b] + S - 1`` (inside the image) with float32 weights ``table[b, s, lane]``."""
    count = first.shape[0]
    blocks = (count + _LANES - 1) // _LANES
    span = 1
    for b in range(blocks):
        lo, hi = in_size, 0
        for j in range(b * _LANES, min((b + 1) * _LANES, count)):
            lo = min(lo, first[j])
            hi = max(hi, first[j] + size[j])
        span = max(span, hi - lo)
    start = np.empty(blocks, np.int64)
    table = np.zeros((blocks, span, _LANES), np.float32)
    for b in range(blocks):
        lo = in_size
        for j in range(b * _LANES, min((b + 1) * _LANES, count)):
            lo = min(lo, first[j])
        lo = max(min(lo, in_size - span), 0)
        start[b] = lo
        for j in range(b * _LANES, min((b + 1) * _LANES, count)):
            for k in range(size[j]):
                table[b, first[j] + k - lo, j - b * _LANES] = weights[j, k]
    return start, table


@_jit
def _horizontal_int(image, r0, rows, first, size, weights, precision, tmp):
    """The horizontal pass in int32, one output value at a time (sums of any size)."""
    half = np.int32(1 << (precision - 1))
    for c in range(image.shape[2]):
        for r in range(rows):
            for j in range(first.shape[0]):
                acc = half
                for k in range(size[j]):
                    acc += weights[j, k] * np.int32(image[r0 + r, first[j] + k, c])
                tmp[c, r, j] = min(max(acc >> precision, 0), 255)


@_jit
def _vertical(tmp, r0, first, size, weights, precision, out):
    """The vertical pass: ``out[c, i] = clamp((half + sum_k w[i, k] tmp[c, first[i] - r0 + k]) >> p)``."""
    width = out.shape[2]
    half = np.int32(1 << (precision - 1))
    acc = np.empty(width, np.int32)
    for c in range(out.shape[0]):
        for i in range(out.shape[1]):
            acc[:] = half
            for k in range(size[i]):
                w = weights[i, k]
                row = tmp[c, first[i] - r0 + k]
                for t in range(width):
                    acc[t] += w * np.int32(row[t])
            line = out[c, i]
            for t in range(width):
                line[t] = min(max(acc[t] >> precision, 0), 255)


def _horizontal_lanes_source() -> str:
    """Source of the float32 horizontal pass, its 16 lanes unrolled for 1 and for 3 channels.

    One scalar accumulator per (row, channel, lane): SSA values that LLVM's SLP vectoriser packs
    into one 16-lane register per row and channel (a loop over a small array stays in memory and
    ran ~5x slower). Two rows at a time share each load of the weights (1.4-1.6x faster than
    one; four rows gained nothing more); an odd last row is computed twice. Indices are unsigned
    so that numba checks no negative index.
    """
    lanes, pair = range(_LANES), range(2)
    body = [
        "def _horizontal_lanes(image, r0, rows, start, table, precision, tmp):",
        "    half = np.float32(1 << (precision - 1))",
        "    scale = np.float32(2.0 ** -precision)",
        "    zero, top = np.float32(0), np.float32(255)",
        "    channels = image.shape[2]",
        "    for ra in range(0, rows, 2):",
        "        rb = min(ra + 1, rows - 1)",
        "        row0, row1 = image[r0 + ra], image[r0 + rb]",
        "        for b in range(start.shape[0]):",
        "            x0 = np.uint64(start[b])",
    ]
    for channels in (1, 3):
        acc = [[[f"a{k}{c}_{lane}" for lane in lanes] for c in range(channels)] for k in pair]
        body += [
            f"            if channels == {channels}:",
            *(f"                {', '.join(names)} = {', '.join(['half'] * _LANES)}" for k in pair for names in acc[k]),
            "                for s in range(table.shape[1]):",
            "                    w = table[b, s]",
            "                    x = x0 + np.uint64(s)",
            *(f"                    p{k}{c} = np.float32(row{k}[x, {c}])" for k in pair for c in range(channels)),
            *(f"                    {acc[k][c][lane]} += w[{lane}] * p{k}{c}"
              for lane in lanes for k in pair for c in range(channels)),
            *(f"                tmp[{c}, {('ra', 'rb')[k]}, b * {_LANES} + {lane}] = "
              f"min(max(np.floor({acc[k][c][lane]} * scale), zero), top)"
              for k in pair for c in range(channels) for lane in lanes),
        ]
    return "\n".join(body)


# Compiled under this file's name, so numba caches it like the functions written out here.
exec(compile(_horizontal_lanes_source(), __file__, "exec"), globals())
# contract: a multiply-add may fuse; exact, since every product and partial sum is an integer below 2**24.
_horizontal_lanes = numba.njit(cache=True, nogil=True, fastmath={"contract"})(_horizontal_lanes)  # noqa: F821


def _windows(images, ratios, corners, flips, out):
    """Every image's window (see :func:`resample_windows`)."""
    height, width = images.shape[1], images.shape[2]
    oh, ow = out.shape[2], out.shape[3]
    for n in range(images.shape[0]):
        yf, ys, yw, yp = _axis_taps(height, ratios[n, 0], corners[n, 0], oh, flips[n, 0])
        xf, xs, xw, xp = _axis_taps(width, ratios[n, 1], corners[n, 1], ow, flips[n, 1])
        r0, r1 = height, 0
        for i in range(oh):
            r0 = min(r0, yf[i])
            r1 = max(r1, yf[i] + ys[i])
        largest = 0
        for j in range(ow):
            largest = max(largest, xw[j].sum())
        if 255 * largest + (1 << (xp - 1)) < _EXACT_FLOAT:
            start, table = _lane_table(xf, xs, xw, width)
            tmp = np.empty((out.shape[1], r1 - r0, start.shape[0] * _LANES), np.uint8)
            _horizontal_lanes(images[n], r0, r1 - r0, start, table, xp, tmp)
        else:
            tmp = np.empty((out.shape[1], r1 - r0, ow), np.uint8)
            _horizontal_int(images[n], r0, r1 - r0, xf, xs, xw, xp, tmp)
        _vertical(tmp, r0, yf, ys, yw, yp, out[n])


# Compiled once here (or loaded from numba's cache) for every input layout: the images' type is a
# read-only array of any strides. numba leaves SLP vectorisation off by default and reads the
# setting while it compiles; the horizontal pass needs it.
_slp, numba.config.SLP_VECTORIZE = numba.config.SLP_VECTORIZE, True
try:
    _windows = numba.njit(
        numba.void(numba.types.Array(numba.uint8, 4, "A", readonly=True), numba.float64[:, ::1], numba.int64[:, ::1],
                   numba.boolean[:, ::1], numba.uint8[:, :, :, ::1]),
        cache=True, nogil=True)(_windows)
finally:
    numba.config.SLP_VECTORIZE = _slp


def resample_windows(images: np.ndarray, ratios: np.ndarray, corners: np.ndarray, flips: np.ndarray,
                     out: np.ndarray) -> np.ndarray:
    """Each image's antialiased-bilinear window at its own scale, written into ``out``.

    Window ``n`` holds output pixels ``corners[n] + (i, j)`` of image ``n`` resized by
    ``1 / ratios[n]`` (torch's ``interpolate(mode="bilinear", antialias=True)`` on uint8, CPU):
    centred at input position ``ratio (corner + i + 1/2)``, a triangle filter widened by the
    ratio when shrinking, taps clamped at the image edges; then mirrored where ``flips`` says.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 N x H x W x C, C = 1 or 3, any strides (a channels-first batch is passed as its
        ``transpose(0, 2, 3, 1)`` view: nothing is copied).
    ratios : numpy.ndarray
        float64 N x 2: input pixels per output pixel, ``(H / scaled_h, W / scaled_w)``.
    corners : numpy.ndarray
        int64 N x 2: the window's ``(top, left)`` in output pixels.
    flips : numpy.ndarray
        bool N x 2: mirror the window top-bottom, left-right.
    out : numpy.ndarray
        uint8 N x C x h x w, C-contiguous: receives the windows.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    _windows(images, ratios, corners, flips, out)
    return out
