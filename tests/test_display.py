"""Tests of course_utils.show_image: the syllabus calls, colour limits, errors."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from astropy.visualization import AsinhStretch, LogStretch, SqrtStretch, ZScaleInterval

from course_utils import show_image
from course_utils.display import display_limits


@pytest.fixture
def bias():
    """A small bias-like uint16 frame: noise around 817 DU, one saturated pixel."""
    rng = np.random.default_rng(42)
    frame = rng.normal(817, 4, size=(116, 218)).round().astype(np.uint16)
    frame[50, 60] = 60000
    return frame


def _limits(ax):
    norm = ax.images[0].norm
    return norm.vmin, norm.vmax


def _colorbar_label(ax):
    return ax.images[0].colorbar.ax.get_ylabel()


# --- Every call the syllabus makes, exactly as written there -----------------


def test_syllabus_single_image_with_colorbar(bias):
    ax = show_image(bias, show_colorbar=True, figsize=(12, 12))
    assert ax.images[0].get_array().shape == bias.shape
    assert ax.images[0].colorbar is not None
    assert tuple(ax.figure.get_size_inches()) == (12, 12)


def test_syllabus_two_panels_with_text(bias):
    med_bias = bias.astype(float)
    fig, [ax1, ax2] = plt.subplots(2, 1, figsize=(12, 12))
    returned = show_image(med_bias, ax=ax1, fig=fig,)
    assert returned is ax1
    ax1 = returned
    text = ax1.text(0.1, 0.8, 'Median-combined', fontsize=25, color='w',
                    ha='left', transform=ax1.transAxes)
    ax2 = show_image(med_bias, ax=ax2, fig=fig,)
    plt.tight_layout()
    assert text.get_transform() is ax1.transAxes
    assert len(ax1.images) == 1 and len(ax2.images) == 1
    # one colour bar for each panel, in the same figure
    assert len(fig.axes) == 4


def test_syllabus_boolean_flag_map(bias):
    img = bias.astype(float)
    med, std = np.median(img), np.std(img)
    flag = (np.abs(img - med) > 3 * std)
    assert flag.dtype == bool
    ax = show_image(flag, cmap='Greys', vmin=0., vmax=0.1, show_colorbar=False)
    shown = ax.images[0].get_array()
    np.testing.assert_array_equal(np.asarray(shown), flag.astype(float))
    assert _limits(ax) == (0.0, 0.1)
    assert ax.images[0].colorbar is None
    assert ax.images[0].get_cmap().name == "Greys"


def test_syllabus_fixed_limits_in_subplot(bias):
    med_bias_clipped = bias.astype(float)
    fig, [ax1, ax2] = plt.subplots(2, 1, figsize=(12, 12))
    ax1 = show_image(med_bias_clipped, ax=ax1, fig=fig, vmin=816.6, vmax=818.4)
    assert _limits(ax1) == (816.6, 818.4)


def test_syllabus_normalized_flat_with_label():
    y, x = np.mgrid[0:100, 0:200]
    med_flat_norm = 1.1 - 0.4 * ((x - 100) ** 2 + (y - 50) ** 2) / (100**2 + 50**2)
    ax = show_image(med_flat_norm, vmin=0.7, vmax=1.1, cmap='inferno',
                    show_colorbar=True, figsize=(12, 6), colorbar_label='Normalized pixel value')
    assert _limits(ax) == (0.7, 1.1)
    assert _colorbar_label(ax) == 'Normalized pixel value'
    assert ax.images[0].get_cmap().name == "inferno"


# --- Colour limits --------------------------------------------------------------


def test_hot_pixel_does_not_set_the_upper_limit(bias):
    ax = show_image(bias)
    vmin, vmax = _limits(ax)
    finite = bias.astype(float).ravel()
    # Independent reference: numpy's percentiles of the pixel values.
    assert vmin == pytest.approx(np.percentile(finite, 0.5))
    assert vmax == pytest.approx(np.percentile(finite, 99.5))
    # i.e. within the noise (sigma = 4 DU), nowhere near the 60000-count pixel
    assert 800 < vmin < 810
    assert 824 < vmax < 834


def test_nan_and_inf_are_ignored_when_choosing_limits(bias):
    image = bias.astype(np.float64)
    reference = display_limits(image)
    image[10:20, 10:20] = np.nan
    image[0, :5] = np.inf
    image[1, :5] = -np.inf
    finite = image[np.isfinite(image)]
    vmin, vmax = _limits(show_image(image))
    assert vmin == pytest.approx(np.percentile(finite, 0.5))
    assert vmax == pytest.approx(np.percentile(finite, 99.5))
    assert vmin == pytest.approx(reference[0], abs=1.0)


def test_percentile_options(bias):
    data = bias.astype(float).ravel()
    vmin, vmax = _limits(show_image(bias, percentile=(5, 95)))
    assert (vmin, vmax) == pytest.approx((np.percentile(data, 5), np.percentile(data, 95)))
    vmin, vmax = _limits(show_image(bias, percentile=90))
    assert (vmin, vmax) == pytest.approx((np.percentile(data, 5), np.percentile(data, 95)))


def test_zscale_interval(bias):
    expected = ZScaleInterval().get_limits(bias.astype(np.float32).ravel())
    assert _limits(show_image(bias, interval="zscale")) == pytest.approx(expected)
    assert _limits(show_image(bias, interval="zscale"))[1] < 900


def test_one_sided_limit_keeps_the_other_automatic(bias):
    vmin, vmax = _limits(show_image(bias, vmin=800))
    assert vmin == 800
    assert vmax == pytest.approx(np.percentile(bias.astype(float), 99.5))


@pytest.mark.parametrize("stretch", ["linear", "sqrt", "log", "asinh"])
def test_colorbar_ticks_stay_within_the_limits(stretch, bias):
    ax = show_image(bias, stretch=stretch, colorbar_label="DU")
    ax.figure.canvas.draw()
    vmin, vmax = _limits(ax)
    bar = ax.images[0].colorbar.ax
    bottom, top = bar.get_window_extent().y0, bar.get_window_extent().y1
    ticks = bar.get_yticks()
    heights = bar.transData.transform(np.column_stack([np.zeros_like(ticks), ticks]))[:, 1]
    drawn = ticks[(heights >= bottom - 0.5) & (heights <= top + 0.5)]
    assert len(drawn) >= 2
    # A tick value outside the limits must not be drawn on the bar (it would
    # sit on top of the end tick and mislabel it).
    assert all(vmin - 1e-9 <= t <= vmax + 1e-9 for t in drawn), (drawn, vmin, vmax)


def test_values_beyond_the_limits_take_the_end_colours(bias):
    ax = show_image(bias, stretch="sqrt", cmap="viridis")
    im = ax.images[0]
    cmap = im.get_cmap()
    rgba = im.to_rgba(np.array([[0.0, 1e6]]))
    np.testing.assert_allclose(rgba[0, 0], cmap(0.0))
    np.testing.assert_allclose(rgba[0, 1], cmap(1.0))


def test_constant_image_displays_without_warnings():
    frame = np.full((50, 80), 817, dtype=np.uint16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = show_image(frame, colorbar_label="DU")
        ax.figure.canvas.draw()
    assert _limits(ax) == (816.5, 817.5)


# --- Data types, orientation, aspect ------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64, bool])
def test_accepted_dtypes(dtype, bias):
    image = (bias > 820) if dtype is bool else bias.astype(dtype)
    ax = show_image(image)
    ax.figure.canvas.draw()
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(shown, image.astype(float))


def test_masked_array_elements_are_blank(bias):
    masked = np.ma.masked_greater(bias, 1000)
    ax = show_image(masked)
    shown = np.asarray(ax.images[0].get_array())
    assert np.isnan(shown[50, 60])
    assert _limits(ax)[1] < 900


def test_origin_is_lower_left(bias):
    ax = show_image(bias)
    assert ax.images[0].origin == "lower"
    ax.figure.canvas.draw()
    # Row 0 is at the bottom: the y axis increases upwards from -0.5.
    bottom, top = ax.get_ylim()
    assert bottom < top
    assert bottom == pytest.approx(-0.5)


@pytest.mark.parametrize("figsize", [None, (12, 12), (12, 6)])
def test_non_square_frames_keep_their_aspect_ratio(figsize):
    frame = np.zeros((1156 // 4, 2176 // 4), dtype=np.uint16)
    ax = show_image(frame, figsize=figsize)
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    assert box.width / box.height == pytest.approx(2176 / 1156, rel=0.02)


@pytest.mark.parametrize("layout", ["tight", "constrained", "default"])
@pytest.mark.parametrize("shape", [(200, 2176), (1156, 2176), (60, 60)])
def test_colorbar_is_as_tall_as_the_image_and_inside_the_figure(layout, shape):
    image = np.random.default_rng(3).normal(817, 4, size=shape)
    if layout == "default":
        ax = show_image(image, colorbar_label="DU")  # show_image's own figure
        fig = ax.figure
    else:
        fig, axes = plt.subplots(2, 1, figsize=(10, 6),
                                 layout="constrained" if layout == "constrained" else None)
        ax = show_image(image, ax=axes[0], fig=fig, colorbar_label="DU")
        show_image(image, ax=axes[1], fig=fig, colorbar_label="DU")
        if layout == "tight":
            fig.tight_layout()
    fig.canvas.draw()
    bar = ax.images[0].colorbar.ax
    image_box, bar_box = ax.get_window_extent(), bar.get_window_extent()
    assert bar_box.height == pytest.approx(image_box.height, rel=0.02)
    assert bar_box.x0 > image_box.x1  # beside the image, not over it
    renderer = fig.canvas.get_renderer()
    label_box = bar.yaxis.get_tightbbox(renderer)
    assert label_box.x1 <= fig.bbox.x1 + 1, "colour-bar labels cut off at the figure edge"


def test_offset_makes_the_axes_count_detector_pixels(bias):
    cutout = bias[40:60, 100:130]
    ax = show_image(cutout, offset=(40, 100))
    assert ax.get_xlim() == (99.5, 129.5)
    assert ax.get_ylim() == (39.5, 59.5)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), cutout.astype(float))


def test_default_figure_follows_the_image_shape():
    wide = show_image(np.zeros((100, 400))).figure.get_size_inches()
    tall = show_image(np.zeros((400, 100))).figure.get_size_inches()
    assert wide[0] > wide[1]
    assert tall[1] > wide[1]


# --- Options -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls", [("sqrt", SqrtStretch), ("log", LogStretch), ("asinh", AsinhStretch)]
)
def test_stretches(name, cls, bias):
    ax = show_image(bias, stretch=name)
    assert isinstance(ax.images[0].norm.stretch, cls)


def test_title_and_no_ticks(bias):
    ax = show_image(bias, title="Bias b0860c1", show_ticks=False)
    assert ax.get_title() == "Bias b0860c1"
    assert len(ax.get_xticks()) == 0


def test_fig_without_ax_draws_into_that_figure(bias):
    fig = plt.figure(figsize=(5, 4))
    ax = show_image(bias, fig=fig)
    assert ax.figure is fig


# --- Bad input gets a clear error --------------------------------------------


@pytest.mark.parametrize(
    "image, error, words",
    [
        (np.zeros((3, 10, 10)), ValueError, ["2-D", "(3, 10, 10)", "image[0]"]),
        (np.zeros(10), ValueError, ["2-D", "(10,)"]),
        (np.zeros((0, 10)), ValueError, ["empty"]),
        (np.full((5, 5), np.nan), ValueError, ["no finite values"]),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, ["numeric", "<U1"]),
        (np.ones((4, 4), dtype=complex), TypeError, ["complex"]),
    ],
)
def test_bad_images_are_rejected_clearly(image, error, words):
    with pytest.raises(error) as excinfo:
        show_image(image)
    for word in words:
        assert word in str(excinfo.value)


def test_all_nan_with_explicit_limits_is_rejected():
    with pytest.raises(ValueError, match="no finite values"):
        show_image(np.full((5, 5), np.nan), vmin=0, vmax=1)


@pytest.mark.parametrize("vmin, vmax", [(2.0, 1.0), (1.0, 1.0)])
def test_vmin_not_below_vmax_is_rejected(vmin, vmax, bias):
    with pytest.raises(ValueError, match=r"vmin \(.*\) must be smaller than vmax"):
        show_image(bias, vmin=vmin, vmax=vmax)


def test_one_sided_limit_beyond_the_data_is_rejected(bias):
    with pytest.raises(ValueError, match="pass vmax as well"):
        show_image(bias, vmin=5000)
    with pytest.raises(ValueError, match="pass vmin as well"):
        show_image(bias, vmax=10)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"stretch": "cubic"}, "stretch must be one of"),
        ({"interval": "minmax"}, "interval must be"),
        ({"percentile": (99, 1)}, "lower < upper"),
        ({"percentile": 0}, "percentile must be in"),
        ({"vmin": np.nan}, "vmin must be a finite number"),
    ],
)
def test_bad_options_are_rejected(kwargs, words, bias):
    with pytest.raises(ValueError, match=words):
        show_image(bias, **kwargs)
