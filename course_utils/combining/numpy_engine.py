"""The numpy engine of combine() (private): tiles of pixels, clipped by :mod:`.clip`.

:func:`run_numpy` combines the canonical frames tile by tile (two threads
copy and sort, the calling thread clips); :func:`all_frame_bounds` computes
every frame's clipping bounds (``clip='frame'``) for both engines, from a
histogram (16-bit integers; counted by a numba kernel when one is given) or
a sorted copy of the frame.
"""

from __future__ import annotations

import numpy as np

from .clipping import ClipParams, frame_bounds
from .tiles import FrameKernel, PixelKernel, PlainKernel
from .frames import Job, Outputs, cpus, Frames, tile_blocks, work_dtype

#: Largest tile, in values (pixels x frames), clipped and combined at once.
_TILE_VALUES = 1 << 21
#: Values copied and sorted at a time: a chunk stays in the CPU's cache.
_CHUNK_VALUES = 1 << 17
#: Threads copying and sorting the chunks of a tile (numpy releases the GIL
#: for that); the clipping runs in the calling thread.
_MAX_THREADS = 2
#: Threads computing the frames' bounds (clip='frame') when numba counts histograms.
_FRAME_THREADS = 4


def run_numpy(src: Frames, job: Job, outputs: Outputs, budget: float) -> None:
    """Combine with the numpy engine (:mod:`course_utils.combining.clipping`) into ``outputs``."""
    method, clip, params, lower, upper = job.method, job.clip, job.params, job.lower, job.upper
    mask = outputs.mask
    n = src.n
    ny, nx = src.shape
    work = work_dtype(src.dtype)
    threads = max(1, min(_MAX_THREADS, cpus()))
    pixels = _tile_pixels(budget, n, ny * nx, work.itemsize)

    if clip == "frame":
        def make_kernel():
            return FrameKernel(src, method, lower, upper, mask is not None)
    elif clip == "pixel":
        def make_kernel():
            return PixelKernel(src, method, params)
    else:
        def make_kernel():
            return PlainKernel(src, method)

    stage = _Stage(src, make_kernel(), pixels, work)
    tiles = list(tile_blocks(ny, nx, pixels))
    if threads == 1 or len(tiles) * pixels < 4 * stage.chunk:
        for tile in tiles:
            stage.prepare(tile)
            stage.finish(tile, outputs)
    else:
        # A helper thread copies and sorts half the chunks of each tile
        # (numpy releases the GIL for that) while this one does the other
        # half; the clipping itself, many small steps, stays in this thread.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads - 1) as pool:
            for tile in tiles:
                stage.prepare(tile, pool)
                stage.finish(tile, outputs)


def _tile_pixels(budget: float, n: int, npix: int, itemsize: int) -> int:
    """Pixels per tile that keep the working memory within ``budget``.

    Per pixel of a tile: its N values in the tile buffer and, in the worst
    case (every pixel of the tile clipping far from both ends of its sorted
    values, or being checked against astropy), about 34 bytes per value of
    float64 copies and masks, plus about 1 kB of per-pixel arrays. On top of
    that, a fixed 2 MiB of blocks converted to float64 (1 MiB per thread).
    """
    per_pixel = n * (itemsize + 34) + 1024
    pixels = int((budget - 2 * 2**20) // per_pixel)
    return max(1, min(pixels, max(64, _TILE_VALUES // n), npix))


class _Stage:
    """A tile buffer and its kernel: ``prepare`` fills it, ``finish`` combines it."""

    def __init__(self, src, kernel, pixels, work):
        self.src, self.kernel = src, kernel
        self.buf = np.empty((pixels, src.n), dtype=work)
        # Each tile is copied and sorted in chunks of about _CHUNK_VALUES
        # values, which stay in the CPU's cache.
        self.chunk = max(1, _CHUNK_VALUES // src.n)

    def prepare(self, tile, pool=None) -> None:
        r0, r1, c0, c1 = tile
        b = self.buf[: (r1 - r0) * (c1 - c0)]
        self.kernel.start(b.shape[0])
        chunks = list(tile_blocks(r1 - r0, c1 - c0, self.chunk))
        if pool is None or len(chunks) < 2:
            self._prepare(b, tile, chunks)
            return
        helper = pool.submit(self._prepare, b, tile, chunks[1::2])
        self._prepare(b, tile, chunks[::2])
        helper.result()

    def _prepare(self, b, tile, chunks) -> None:
        r0, r1, c0, c1 = tile
        for q0, q1, d0, d1 in chunks:
            a = q0 * (c1 - c0) + d0
            z = a + (q1 - q0) * (d1 - d0)
            chunk = (r0 + q0, r0 + q1, c0 + d0, c0 + d1)
            self.src.gather(b[a:z], *chunk)
            self.kernel.prepare(b[a:z], a, z, chunk)

    def finish(self, tile, outputs) -> None:
        r0, r1, c0, c1 = tile
        out, count, mask = outputs
        b = self.buf[: (r1 - r0) * (c1 - c0)]
        result, kept, rejected = self.kernel.finish(b, tile, mask is not None)
        out[r0:r1, c0:c1] = result.reshape(r1 - r0, c1 - c0)
        if count is not None:
            count[r0:r1, c0:c1] = kept.reshape(r1 - r0, c1 - c0)
        if mask is not None:
            mask[:, r0:r1, c0:c1] = rejected


def all_frame_bounds(src, params: ClipParams, budget: float, kernels) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's clipping bounds (clip='frame'): astropy's, from all its finite values.

    With the numba kernels, 16-bit integer frames get their histograms from
    a kernel, in threads.
    """
    n = src.n
    lower = np.empty(n)
    upper = np.empty(n)
    # Pixels of a frame read at a time for its histogram or sums (8 bytes each).
    frame_chunk = int(min(1 << 18, max(1 << 12, budget // 32)))

    def one(i, counts=None):
        f = src.list[i]
        if (counts is not None and f.dtype.kind in "ui" and f.dtype.itemsize == 2
                and f.flags.c_contiguous and f.flags.aligned):  # read in place
            counts[...] = 0
            kernels.histogram16(f.reshape(-1).view(np.uint16), counts)
            lower[i], upper[i] = frame_bounds(f, params, frame_chunk, counts)
        else:
            lower[i], upper[i] = frame_bounds(f, params, chunk_pixels=frame_chunk)

    threads = max(1, min(_FRAME_THREADS, cpus(), n))
    if kernels is None or threads == 1 or n < 2:
        counts = None if kernels is None else np.empty(1 << 16, dtype=np.int64)
        for i in range(n):
            one(i, counts)
        return lower, upper
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    ticket = itertools.count()
    one(next(ticket), np.empty(1 << 16, dtype=np.int64))  # compiles, in this thread only

    def worker():
        counts = np.empty(1 << 16, dtype=np.int64)
        for i in iter(ticket.__next__, None):
            if i >= n:
                return
            one(i, counts)

    with ThreadPoolExecutor(threads - 1) as pool:
        helpers = [pool.submit(worker) for _ in range(threads - 1)]
        worker()
        for h in helpers:
            h.result()
    return lower, upper
