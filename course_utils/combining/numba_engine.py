"""The numba engine of combine() (private): blocks of pixels, threads, the kernels.

:class:`_NumbaRun` cuts the image into blocks that threads take in turn,
runs the compiled kernels (:mod:`.kernels`, imported only when first
needed: :func:`load_kernels`) and hands the pixels they flag to the numpy
engine. :func:`compile_kind` compiles one kind of kernel (what the
background process of :mod:`.warmup` runs).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .clipping import ClipParams
from .frames import MIN_MEMORY, Job, Outputs, cpus, Frames, tile_blocks
from .numpy_engine import all_frame_bounds, run_numpy

# The numba kernels, imported once, on first need: {"module": ..., "error": ...}.
_kernels_state: dict = {}


def jit_disabled() -> bool:
    """Whether numba's JIT is switched off (``NUMBA_DISABLE_JIT``, or ``numba.config.DISABLE_JIT``).

    Then numba runs the kernels as plain Python, whose arithmetic (Python
    floats and wrapping integers instead of the compiled types) does not
    give the kernels' results, and a thousand times slower: combine() then
    uses the numpy engine, and logs why. Read without importing numba.
    """
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            return bool(numba.config.DISABLE_JIT)
        except Exception:  # noqa: BLE001  (a numba that is not usable: the environment decides)
            pass
    value = os.environ.get("NUMBA_DISABLE_JIT", "").strip()
    try:
        return bool(int(value)) if value else False
    except ValueError:  # numba itself would refuse such a value
        return False


def load_kernels():
    """The module of numba kernels, or None when numba is missing, unusable or its JIT is off."""
    if jit_disabled():
        return None
    if not _kernels_state:
        import importlib

        try:
            # Importing numba can fail in many ways besides ImportError (a numba
            # built for another numpy, a broken llvmlite): all mean "no numba".
            module = importlib.import_module(f"{__package__}.kernels")
        except Exception as exc:  # noqa: BLE001
            _kernels_state.update(module=None, error=exc)
        else:
            _kernels_state.update(module=module, error=None)
    return _kernels_state["module"]


def kernels_error() -> Exception | None:
    """Why :func:`load_kernels` gives None (after it was called), or None."""
    if jit_disabled():
        return RuntimeError("numba's JIT is disabled (NUMBA_DISABLE_JIT=1)")
    return _kernels_state.get("error")


#: Threads running the numba kernels (at most; never more than the CPUs).
_NUMBA_THREADS = 4
#: Bytes of one tile (N values of T pixels), sorted while it stays in cache.
_TILE_BYTES = 1 << 18
#: Pixels per block, the unit of work handed to a thread.
_BLOCK_PIXELS = 1 << 15
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _numba_work(dtype: np.dtype) -> tuple[np.dtype, float]:
    """Working type of the kernels for input data of ``dtype``, and its offset.

    8- and 16-bit integers are sorted as uint16: signed ones with their sign
    bit flipped (``v + 32768``), the offset added back to every value used.
    Floats up to 32 bits are float32, anything else float64. Only three
    working types, hence at most three compilations.
    """
    if dtype.kind in "ui" and dtype.itemsize <= 2:
        return np.dtype(np.uint16), (-32768.0 if dtype.kind == "i" else 0.0)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32), 0.0
    return np.dtype(np.float64), 0.0


def kernel_kind(clip, dtype: np.dtype) -> tuple[str, str]:
    """The kind of numba kernel (:mod:`course_utils.combining.warmup`) a call needs."""
    return ("pixel" if clip == "pixel" else "plain", _numba_work(dtype)[0].name)


class _NumbaRun:
    """One combine() call on the numba kernels: blocks of pixels, threads, fallback.

    The pixels are cut into blocks (whole rows, or pieces of a row), which
    the threads take in turn. Each thread has its own buffers: a tile
    (``N x T`` values, combined at once by a kernel call), its scratch, the
    results of a block and, unless the kernels can read the caller's stack
    directly, a staging copy of the block's values in the working type.
    """

    def __init__(self, kernels, src: Frames, job: Job, outputs: Outputs, budget: float):
        method, clip, params, lower, upper = job.method, job.clip, job.params, job.lower, job.upper
        self.job = job
        self.k, self.src, self.method, self.clip, self.params = kernels, src, method, clip, params
        self.lower, self.upper = lower, upper
        self.out, self.count, self.mask = outputs
        self.budget = budget
        n = src.n
        ny, nx = src.shape
        self.work, self.off = _numba_work(src.dtype)
        self.integer = self.work.kind == "u"
        self.flip = self.off != 0.0
        isz = self.work.itemsize
        stack = src.stack
        # Direct: the kernels read the caller's stack in place (C-contiguous,
        # of the working type, as read_stack gives); otherwise each block is
        # first copied (and converted) into a staging buffer.
        self.direct = (
            stack is not None and stack.dtype == self.work and stack.dtype.isnative
            and stack.flags.c_contiguous and stack.flags.aligned and stack.flags.writeable
        )
        self.flat_src = stack.reshape(n, -1) if self.direct else None
        self.threads = max(1, min(_NUMBA_THREADS, cpus()))
        # Working memory: at most a quarter of the budget for the threads'
        # buffers (the rest is for the pixels the numpy engine may have to
        # settle), half of it for the tile and its scratch (N * (itemsize +
        # 8) + 40 bytes per pixel), half for the block (40 bytes per pixel,
        # and N * itemsize more when staging).
        share = budget / 4 / self.threads / 2
        per_block_pixel = 40 + (0 if self.direct else n * isz)
        self.block = int(max(1, min(_BLOCK_PIXELS, share // per_block_pixel)))
        cache_tile = max(16, _TILE_BYTES // (n * isz))
        self.tile = int(max(1, min(2048, cache_tile, share // (n * (isz + 8) + 40), self.block)))
        self.blocks = list(tile_blocks(ny, nx, self.block)) if ny * nx else []
        self.pairs = kernels.batcher_pairs(n)
        self.ends = kernels.extreme_pairs(n)
        self.mode = 2 if clip == "pixel" else 0
        # The interval of valid stored values of each frame: its clipping
        # bounds (clip='frame'), or every finite value.
        thr = np.empty((2, n))
        if clip == "frame":
            empty = np.isnan(lower) | np.isnan(upper)
            if self.integer:  # integer v: lower <= v exactly when ceil(lower) <= v
                thr[0] = np.ceil(lower) - self.off
                thr[1] = np.floor(upper) - self.off
            else:
                thr[0] = np.maximum(lower, -_FLOAT_MAX)
                thr[1] = np.minimum(upper, _FLOAT_MAX)
            thr[0, empty] = np.inf
            thr[1, empty] = -np.inf
        else:
            thr[0] = -np.inf if self.integer else -_FLOAT_MAX
            thr[1] = np.inf if self.integer else _FLOAT_MAX
        self.thr = thr
        self.fill = 65535.0 if self.integer else np.inf
        p = params
        self.how = kernels.settings(self.off, self.integer, method == "median", p.sigma_lower,
                                    p.sigma_upper, p.maxiters, p.use_median, self.fill)
        self.flat_out = self.out.reshape(-1)  # fresh C-contiguous arrays: views
        self.flat_count = None if self.count is None else self.count.reshape(-1)
        self.flagged = []

    def buffers(self) -> dict:
        n, tile = self.src.n, self.tile
        return {
            "tile": self.k.Tile(
                x=np.empty((n, tile), dtype=self.work),
                nv=np.empty((2, tile), dtype=np.int64),
                work=np.empty((3, tile)),
                cols=np.empty((tile, n) if self.mode == 2 else (0, 0))),
            "res": np.empty((5, self.block)),
            "stage": None if self.direct else np.empty((n, self.block), dtype=self.work),
        }

    def run(self) -> int:
        """Combine; returns the number of pixels the numpy engine settled."""
        blocks = self.blocks
        if not blocks:
            return 0
        import itertools

        ticket = itertools.count()  # next() on it is atomic under the GIL

        def worker(buf):
            for i in iter(ticket.__next__, None):
                if i >= len(blocks):
                    return
                self._do_block(buf, blocks[i])

        first = self.buffers()
        # The first block compiles (or loads) the kernel, in this thread only.
        self._do_block(first, blocks[next(ticket)])
        threads = min(self.threads, len(blocks) - 1)
        if threads <= 1:
            worker(first)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads - 1) as pool:
                helpers = [pool.submit(worker, self.buffers()) for _ in range(threads - 1)]
                worker(first)
                for h in helpers:
                    h.result()
        del first
        if self.flagged:
            flagged = np.sort(np.concatenate(self.flagged))
            self._settle(flagged)
            return int(flagged.size)
        return 0

    def _do_block(self, buf, block) -> None:
        r0, r1, c0, c1 = block
        start = r0 * self.src.shape[1] + c0  # blocks are contiguous in the flat image
        size = (r1 - r0) * (c1 - c0)
        if self.direct:
            data, a, b = self.flat_src, start, start + size
        else:
            self._stage(buf["stage"], block)
            data, a, b = buf["stage"], 0, size
        res = buf["res"]
        if self.mode == 2:
            nflag = self.k.combine_pixel(data, a, b, buf["tile"], self.pairs, self.ends, self.thr,
                                         self.how, res)
        else:
            nflag = self.k.combine_plain(data, a, b, buf["tile"], self.pairs, self.thr, self.how,
                                         res)
        self.flat_out[start:start + size] = res[0, :size]
        if self.flat_count is not None:
            self.flat_count[start:start + size] = res[1, :size]
        if nflag:
            self.flagged.append(np.flatnonzero(res[4, :size]) + start)
        if self.mask is not None:
            self._mask_block(block, res[2, :size], res[3, :size])

    def _stage(self, stage, block) -> None:
        """Copy (and convert) the values of a block into the staging buffer."""
        r0, r1, c0, c1 = block
        rows, cols = r1 - r0, c1 - c0
        isz = stage.itemsize
        view = np.ndarray((self.src.n, rows, cols), dtype=stage.dtype, buffer=stage,
                          strides=(stage.strides[0], cols * isz, isz))
        if self.flip:  # signed integers: as int16, then flip the sign bit
            view = view.view(np.int16)
        if self.src.stack is not None:
            np.copyto(view, self.src.stack[:, r0:r1, c0:c1], casting="unsafe")
        else:
            for i, f in enumerate(self.src.list):
                np.copyto(view[i], f[r0:r1, c0:c1], casting="unsafe")
        if self.flip:
            part = stage[:, : rows * cols]
            np.bitwise_xor(part, np.uint16(0x8000), out=part)

    def _mask_block(self, block, low, high) -> None:
        """Rejection mask of a block: NaN/inf, outside the frame's or the pixel's bounds."""
        r0, r1, c0, c1 = block
        target = self.mask[:, r0:r1, c0:c1]
        if self.clip == "pixel":
            low = low.reshape(r1 - r0, c1 - c0)
            high = high.reshape(r1 - r0, c1 - c0)
        for i, blk in enumerate(self.src.blocks(*block)):
            if self.clip == "frame":
                low, high = self.lower[i], self.upper[i]
            elif self.clip is None:
                low, high = -np.inf, np.inf
            with np.errstate(invalid="ignore"):
                kept = (blk >= low) & (blk <= high)  # NaN: False
            if blk.dtype.kind == "f":
                kept &= np.isfinite(blk)
            np.logical_not(kept, out=target[i])

    def _settle(self, flat_index: np.ndarray) -> None:
        """Recompute the flagged pixels with the numpy engine (exact, or astropy's)."""
        n = self.src.n
        ny, nx = self.src.shape
        budget = max(MIN_MEMORY, self.budget)
        step = int(max(1, (budget / 4) // (n * max(self.src.dtype.itemsize, 8))))
        for s0 in range(0, flat_index.size, step):
            idx = flat_index[s0:s0 + step]
            rows, cols = np.unravel_index(idx, (ny, nx))
            sub = np.empty((n, 1, idx.size), dtype=self.src.dtype)
            if self.src.stack is not None:
                sub[:, 0, :] = self.src.stack[:, rows, cols]
            else:
                for i, f in enumerate(self.src.list):
                    sub[i, 0, :] = f[rows, cols]
            out = np.empty((1, idx.size), dtype=self.out.dtype)
            count = np.empty((1, idx.size), dtype=np.intp)
            mask = None if self.mask is None else np.empty((n, 1, idx.size), dtype=bool)
            run_numpy(Frames(sub), self.job, Outputs(out, count, mask), budget / 2)
            self.flat_out[idx] = out[0]
            if self.flat_count is not None:
                self.flat_count[idx] = count[0]
            if mask is not None:
                self.mask[:, rows, cols] = mask[:, 0, :]


def run_numba(kernels, src: Frames, job: Job, outputs: Outputs, budget: float) -> int:
    """Combine with the numba kernels into ``outputs``; returns the pixels settled by numpy."""
    return _NumbaRun(kernels, src, job, outputs, budget).run()


def compile_kind(kind: tuple[str, str]) -> None:
    """Compile (or load from numba's cache) the kernels a kind of call needs.

    ``kind`` is ``(entry, working type)`` (see :func:`kernel_kind`): a tiny
    combination of zeros of that type, per pixel for ``'pixel'`` and per
    frame otherwise (which compiles what ``clip=None`` needs too, and the
    histogram kernel for 16-bit integers).
    """
    kernels = load_kernels()
    if kernels is None:
        raise ImportError(f"numba cannot be imported: {kernels_error()}")
    src = Frames(np.zeros((3, 2, 2), dtype=kind[1]))
    params = ClipParams(sigma_lower=3.0, sigma_upper=3.0, maxiters=5, use_median=True,
                        use_mad_std=False)
    clip = "pixel" if kind[0] == "pixel" else "frame"
    lower = upper = None
    if clip == "frame":
        lower, upper = all_frame_bounds(src, params, MIN_MEMORY, kernels)
    out = np.empty((2, 2))
    run_numba(kernels, src, Job("median", clip, params, lower, upper), Outputs(out, None, None),
               MIN_MEMORY)
