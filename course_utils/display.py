"""Display astronomical images with robust, astronomer-friendly defaults.

The one public function, :func:`show_image`, wraps
:meth:`matplotlib.axes.Axes.imshow` with an
:class:`astropy.visualization.ImageNormalize` built from an *interval*
(which data values map to the ends of the colour map) and a *stretch*
(how values in between are spread out).
"""

from __future__ import annotations

import warnings
from typing import Literal, Sequence

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from astropy.visualization import (
    AsinhStretch,
    AsymmetricPercentileInterval,
    ImageNormalize,
    LinearStretch,
    LogStretch,
    SqrtStretch,
    ZScaleInterval,
)

__all__ = ["show_image", "display_limits", "use_course_style"]

_STRETCHES = {
    "linear": LinearStretch,
    "sqrt": SqrtStretch,
    "log": LogStretch,
    "asinh": AsinhStretch,
}

#: Default percentiles that set the colour limits: robust against the few
#: per cent of pixels hit by cosmic rays, hot pixels or dust.
DEFAULT_PERCENTILES = (0.5, 99.5)


def _as_display_array(image) -> np.ndarray:
    """Check ``image`` and return it as a 2-D float array (NaN where masked)."""
    if isinstance(image, np.ma.MaskedArray):
        image = image.astype(float).filled(np.nan)
    array = np.asarray(image)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(
            f"show_image needs a numeric or boolean image, got dtype {array.dtype}. "
            "Pass the pixel array, e.g. hdu.data, not the HDU or a list of names."
        )
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(
            "show_image cannot display complex values; pass np.abs(image) or image.real."
        )
    if array.ndim != 2:
        hint = ""
        if array.ndim == 3:
            hint = (
                f" This looks like a stack of {array.shape[0]} frames: show one "
                "of them, e.g. image[0], or combine them first."
            )
        raise ValueError(
            f"show_image needs a 2-D image, got an array with shape {array.shape}.{hint}"
        )
    if array.size == 0:
        raise ValueError(
            f"show_image got an empty image (shape {array.shape}); check how it was sliced."
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.floating):
        # Integers (uint16 CCD data) and masks: float32 holds uint16 exactly.
        array = array.astype(np.float32 if array.dtype.itemsize <= 2 else np.float64)
    return array


def display_limits(
    image,
    interval: Literal["percentile", "zscale"] = "percentile",
    percentile: float | Sequence[float] = DEFAULT_PERCENTILES,
) -> tuple[float, float]:
    """Return the robust colour limits ``(vmin, vmax)`` that `show_image` would use.

    Only finite values count: NaN and inf are ignored. A constant image gets
    limits half a unit either side of its value, so that nothing divides by
    zero.

    Parameters
    ----------
    image : array-like
        A 2-D image.
    interval : {'percentile', 'zscale'}
        ``'percentile'`` clips at the given percentiles of the pixel values;
        ``'zscale'`` uses IRAF's zscale algorithm (as DS9 does).
    percentile : float or (float, float)
        Lower and upper percentiles, or one number ``p`` meaning the central
        ``p`` per cent of the values. Ignored for ``'zscale'``.

    Returns
    -------
    vmin, vmax : float

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.full((100, 100), 817.0)
    >>> frame[50, 50] = 60000.0          # one hot pixel
    >>> display_limits(frame)
    (816.5, 817.5)
    """
    array = _as_display_array(image)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise ValueError(
            "show_image cannot choose colour limits: the image holds no finite "
            "values (all NaN or inf). Check the step that made it, e.g. a "
            "division by zero or a clip that rejected every pixel."
        )
    if interval == "percentile":
        lower, upper = _percentile_pair(percentile)
        vmin, vmax = AsymmetricPercentileInterval(lower, upper).get_limits(finite)
    elif interval == "zscale":
        vmin, vmax = ZScaleInterval().get_limits(finite)
    else:
        raise ValueError(
            f"interval must be 'percentile' or 'zscale', got {interval!r}."
        )
    vmin, vmax = float(vmin), float(vmax)
    if not vmax > vmin:  # constant image, or a single value dominates
        vmin, vmax = vmin - 0.5, vmin + 0.5
    return vmin, vmax


def _percentile_pair(percentile: float | Sequence[float]) -> tuple[float, float]:
    if np.ndim(percentile) == 0:
        central = float(percentile)
        if not 0 < central <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {central}.")
        return (100 - central) / 2, 100 - (100 - central) / 2
    lower, upper = (float(p) for p in percentile)
    if not 0 <= lower < upper <= 100:
        raise ValueError(
            f"percentile must be (lower, upper) with 0 <= lower < upper <= 100, "
            f"got ({lower}, {upper})."
        )
    return lower, upper


def _default_figsize(shape: tuple[int, int], show_colorbar: bool) -> tuple[float, float]:
    """A figure size that keeps the image's aspect ratio (width 10 inches)."""
    ny, nx = shape
    width = 10.0
    image_width = width * (0.85 if show_colorbar else 1.0)
    height = float(np.clip(image_width * ny / nx, 2.0, 14.0))
    return width, height


def _colorbar_axes(fig: Figure, ax: Axes) -> Axes:
    """Axes for a colour bar exactly as tall as the image drawn in ``ax``.

    With square pixels the image axes shrink to the image. Under constrained
    layout an inset of the image axes follows that shrinking and the layout
    makes room for its labels; without it (e.g. ``plt.tight_layout()`` on
    ``plt.subplots``), an axes divider does, and tight_layout knows it.
    """
    if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        return ax.inset_axes([1.02, 0.0, 0.035, 1.0])
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    return make_axes_locatable(ax).append_axes("right", size="3.5%", pad=0.1)


def show_image(
    image,
    *,
    ax: Axes | None = None,
    fig: Figure | None = None,
    figsize: tuple[float, float] | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    interval: Literal["percentile", "zscale"] = "percentile",
    percentile: float | Sequence[float] = DEFAULT_PERCENTILES,
    stretch: Literal["linear", "sqrt", "log", "asinh"] = "linear",
    show_colorbar: bool = True,
    colorbar_label: str | None = None,
    title: str | None = None,
    show_ticks: bool = True,
    offset: tuple[int, int] = (0, 0),
) -> Axes:
    """Show a 2-D image with robust colour limits, pixel (0, 0) at the lower left.

    Parameters
    ----------
    image : array-like
        A 2-D array: ``uint16``/``int16`` raw CCD data, ``float32``/``float64``
        processed frames or a ``bool`` mask (shown as 0 and 1). NaN and inf
        pixels are drawn blank and ignored when choosing colour limits; masked
        array elements are treated as NaN.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. If omitted, a new figure and axes are made.
    fig : matplotlib.figure.Figure, optional
        Figure that ``ax`` belongs to (used for the colour bar). Defaults to
        ``ax.figure``.
    figsize : (float, float), optional
        Size in inches of a new figure. The default keeps the image's aspect
        ratio, e.g. about 10 x 5.5 for a 2176 x 1156 frame. With any
        ``figsize`` the pixels stay square; extra space is left blank.
    cmap : str
        A matplotlib colour map name.
    vmin, vmax : float, optional
        Colour limits. Either one not given is chosen robustly from the data
        (see ``interval``).
    interval : {'percentile', 'zscale'}
        How automatic limits are chosen: percentiles of the finite pixel
        values (default), or IRAF/DS9's zscale.
    percentile : float or (float, float)
        Percentiles for ``interval='percentile'``: ``(lower, upper)``, or one
        number for the central part, e.g. ``99`` means ``(0.5, 99.5)``.
    stretch : {'linear', 'sqrt', 'log', 'asinh'}
        How values between the limits map onto the colour map. Non-linear
        stretches bring out faint structure.
    show_colorbar : bool
        Draw a colour bar beside the image.
    colorbar_label : str, optional
        Label of the colour bar.
    title : str, optional
        Axes title.
    show_ticks : bool
        Show pixel-coordinate tick labels.
    offset : (int, int)
        Row and column, in the full frame, of the image's first pixel. For a
        cut-out ``frame[r0:r1, c0:c1]`` pass ``offset=(r0, c0)`` and the axes
        count the detector's rows and columns instead of starting at 0.

    Returns
    -------
    matplotlib.axes.Axes
        The axes holding the image (``ax.images[0]``), so that you can add
        text or markers, e.g. ``ax.text(0.1, 0.8, 'label', transform=ax.transAxes)``.

    Raises
    ------
    TypeError
        If the image is not numeric or boolean.
    ValueError
        If the image is not 2-D, is empty, holds no finite value, or if
        ``vmin >= vmax``.

    Notes
    -----
    A full CCD frame has more pixels than a figure has screen pixels, so
    matplotlib resamples it for display. This function asks for
    anti-aliased resampling of the *data* (before colour mapping): each screen
    pixel shows the average of the image pixels under it. A single hot pixel
    or cosmic ray is therefore diluted by its neighbours, but one hundreds of
    counts above the colour limits still saturates and shows as a dot; a hot
    pixel only slightly above the limits can fade. Zoom in (slice the array,
    e.g. ``image[500:600, 1000:1100]``) to see single pixels exactly. For a
    boolean mask one flagged pixel averages to about ``1 / n`` of the ``n``
    pixels per screen pixel, which is why ``vmax=0.1`` makes isolated flags
    visible.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> rng = np.random.default_rng(0)
    >>> bias = rng.normal(817, 4, size=(100, 200)).astype(np.uint16)
    >>> ax = show_image(bias, colorbar_label="Counts [DU]")
    >>> lo, hi = ax.images[0].norm.vmin, ax.images[0].norm.vmax
    >>> bool(800 < lo < 817 < hi < 835)
    True
    """
    array = _as_display_array(image)
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}.")
    if stretch not in _STRETCHES:
        raise ValueError(
            f"stretch must be one of {sorted(_STRETCHES)}, got {stretch!r}."
        )
    if vmin is not None and vmax is not None:
        if vmin >= vmax:
            raise ValueError(
                f"vmin ({vmin}) must be smaller than vmax ({vmax})."
            )
    if vmin is None or vmax is None:
        auto_min, auto_max = display_limits(array, interval, percentile)
        if vmin is None and vmax is not None and auto_min >= vmax:
            raise ValueError(
                f"vmax={vmax} is below the automatic lower limit {auto_min:.6g}; "
                "pass vmin as well."
            )
        if vmax is None and vmin is not None and auto_max <= vmin:
            raise ValueError(
                f"vmin={vmin} is above the automatic upper limit {auto_max:.6g}; "
                "pass vmax as well."
            )
        vmin = auto_min if vmin is None else vmin
        vmax = auto_max if vmax is None else vmax
    elif not np.isfinite(array).any():
        raise ValueError(
            "show_image got an image with no finite values (all NaN or inf)."
        )

    if ax is None:
        if fig is None:
            fig = plt.figure(
                figsize=figsize or _default_figsize(array.shape, show_colorbar),
                layout="constrained",
            )
        ax = fig.gca()
    elif fig is None:
        fig = ax.figure

    # clip=False: values beyond the limits take the colour map's end colours
    # anyway, and the colour bar then places no tick outside [vmin, vmax].
    norm = ImageNormalize(
        vmin=float(vmin), vmax=float(vmax), stretch=_STRETCHES[stretch](), clip=False
    )
    with warnings.catch_warnings():
        # NaN pixels are drawn blank; they need no warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        row0, col0 = (int(v) for v in offset)
        ny, nx = array.shape
        im = ax.imshow(
            array,
            origin="lower",
            extent=(col0 - 0.5, col0 + nx - 0.5, row0 - 0.5, row0 + ny - 0.5),
            cmap=cmap,
            norm=norm,
            aspect="equal",
            interpolation="antialiased",
            interpolation_stage="data",
        )
    if show_colorbar:
        fig.colorbar(im, cax=_colorbar_axes(fig, ax), label=colorbar_label)
    if title is not None:
        ax.set_title(title)
    if not show_ticks:
        ax.set_xticks([])
        ax.set_yticks([])
    return ax


#: Matplotlib settings shared by every figure of the course.
COURSE_STYLE = {
    "figure.figsize": (8.0, 5.0),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "font.size": 13,
    "axes.linewidth": 1.2,
    "axes.titlesize": "medium",
    "legend.frameon": False,
}


def use_course_style(jpeg: bool = True) -> None:
    """Apply the course's matplotlib settings (figure size, fonts, resolution).

    Call it once at the top of a notebook. It updates
    ``matplotlib.rcParams`` (``plt.rcdefaults()`` undoes that) and, in a
    Jupyter kernel, shows inline figures as JPEG images: images of noisy CCD
    frames compress poorly as PNG, and notebooks are stored with their
    figures.

    Parameters
    ----------
    jpeg : bool
        Show inline figures as JPEG (quality 85) rather than PNG.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> use_course_style()
    >>> plt.rcParams["font.size"]
    13.0
    >>> plt.rcdefaults()
    """
    plt.rcParams.update(COURSE_STYLE)
    if jpeg:
        _inline_figures_as_jpeg()


def _inline_figures_as_jpeg() -> None:
    """In a Jupyter kernel with the inline backend, emit figures as JPEG."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: no inline figures
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("jpeg", pil_kwargs={"quality": 85})
