"""One-off integration helper from branch h-website (issue 15, item 7): delete after use.

Writes a description (alt text) into the metadata (``mystnb: image: alt:``) of
every figure cell named below, in whichever notebook of ``notebooks/`` holds
the cell id; prints the figure cells still without one. The descriptions then
live in the notebooks' metadata, their one place (see the README's
"Writing and changing notebooks"). Run it after merging the notebook branches:

    .venv/bin/python tools/apply_figure_descriptions.py && make student

A description written for one version of a figure must be re-read if the
figure changed: these were written from the branches as they were on
2026-11-24 (notebooks 01-04 of h-website and d-notebooks, 05 of e-science,
06 of f-ptc).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

DESCRIPTIONS = {
    "code-26e5d562": "Bias frame b0860c1 in grey scale, with a colour bar in DU around 817: faint horizontal bands where some rows are lower, a fixed pattern, scattered bright specks of hot pixels and cosmic rays, and dashed lines marking the overscan strip on the right and the extra rows at the top.",
    "code-5c9cd7d6": "Two histograms of the pixel values of bias frame b0860c1. Left: a narrow Gaussian peak near 817 DU. Right, with logarithmic counts: the same peak and a long tail of rare outliers reaching far higher values.",
    "code-06942394": "Bias frame b0861c1, which at this scale looks just like the first one: the same row bands, fixed pattern and bright columns.",
    "code-f8480c1b": "The same 60 by 60 pixel region of bias frames b0860c1 and b0861c1 side by side: a bright cosmic-ray streak appears in b0861c1 only.",
    "code-0a9b1f30": "The difference b0861c1 minus b0860c1 on a red and blue scale from -20 to +20 DU: the row pattern has cancelled, leaving even noise with a few positive and negative cosmic-ray specks.",
    "code-b9056689": "The median (top) and the mean (bottom) of 40 bias frames on the same colour scale: both show the row pattern, but the mean is speckled all over with cosmic rays that the median leaves out.",
    "code-8a56a868": "Histograms of the pixel values of 20 single bias frames, in faint blue, and of the median of 40 frames, in orange: the median's peak near 817 DU is far narrower.",
    "code-c3890dd6": "Map of the pixels more than 3 sigma from the median: a white frame with scattered black dots where cosmic rays and hot pixels are.",
    "code-bf526186": "A strip of the median-combined (top) and the mean-combined (bottom) sigma-clipped master bias, on a fine colour scale from 816.6 to 818.4 DU: the mean is smoother, and white specks mark hot pixels rejected in every frame.",
    "code-e6620385": "The pixels of one dark frame flagged by clipping it against its own statistics: scattered black dots of cosmic rays, and a dense black patch in the lower left corner where the sensor glows.",
    "code-b07ded40": "Horizontal bar chart comparing how long six routes take to sigma-clip and combine 40 bias frames: by hand, with astropy per frame and per pixel, and with the course's combine function per frame and per pixel.",
    "code-368b869e": "A single 3600 s dark frame (top) and the median of five dark frames (bottom) on the same colour scale: the single frame is peppered with cosmic rays, the median is clean, and both glow brightly in the lower left corner.",
    "code-f276b75a": "Line plot of the mean dark signal in 3600 s against the distance from the lower left corner, on a logarithmic scale: the sensor glow is strongest at the corner and fades away from it.",
    "code-fda20491": "Two panels, for the glowing corner and for a typical pixel: the dark signal expected to grow in a straight line with exposure time from 0 to 3600 s, through the one point measured at 3600 s.",
    "code-d4ff2ecb": "A single dome flat (top) and the master flat, the median of six (bottom), of detector ift-c2: bright in the middle and darker towards the edges and corners.",
    "code-1ac05cc5": "The master flat of detector ift-c2 divided by its median, on a colour scale from 0.7 to 1.1: the illumination falls off by about 30 per cent from the centre towards the edges and corners.",
    "code-a2b7483b": "A single dome flat (top) and the master flat, the median of six (bottom), of detector iff-c3: besides the fall-off towards the edges, both show dark rings and specks.",
    "code-c286b012": "The normalized master flat of detector iff-c3 on a colour scale from 0.6 to 1.1: dark ring-shaped dust donuts, dark specks of bad pixels and a thin dark line of a bad column.",
    "code-c47627cb": "A zoom of 120 by 120 pixels on the darkest dust donut of the normalized flat: a dark ring around a less dark centre.",
    "code-d7f9b263": "Histograms of the normalized flat with and without the bias subtracted: the one with the overscan level subtracted is wider and reaches lower values, so the vignetting is deeper than it seemed.",
    "code-99b4a942": "The mean of the bias-subtracted darks (top), speckled with cosmic rays, and the master dark, their sigma-clipped mean with mad_std (bottom), clean apart from the glowing corner, both on a colour scale from -10 to 40 DU.",
    "code-e5a0d010": "Line plot of the mean dark signal against the distance from the lower left corner for exposures of 3600 s, 600 s and 60 s, on a logarithmic scale, with the read noise as a dashed line: the 60 s curve lies below it everywhere, the 600 s curve only beyond a few hundred pixels from the glowing corner.",
    "code-d5ea4842": "Raw science frame ift0040c2, transposed, with a colour bar in DU: stars scattered over a sky that is brighter in the middle because of vignetting, and the overscan strip along the top.",
    "code-bd87d8fb": "The same field before calibration (top: overscan subtracted, one exposure) and after (bottom: flat-fielded, three exposures combined) on the same colour scale: the bright middle of the sky and the cosmic rays are gone after calibration.",
    "code-857f2c10": "Line plot of the sky level along row 512 before and after calibration: before, it rises towards the middle columns and falls towards the edges; after, it is flat.",
    "code-334198ea": "Two panels of the calibrated field at pointings 1 and 2, each with a red circle around star 1: near the centre of the vignetting at pointing 1, near the upper right corner at pointing 2.",
    "code-0023c76f": "Scatter plot of each star's flux ratio between the two pointings against the flat's ratio at its two places: before flat-fielding the ratios follow the flat's ratio; after, they lie near 1 for every star.",
    "show": "A raw 10 s LED flat frame with a colour bar in DU: the evenly lit data section on the left and the darker overscan strip on the right.",
    "diff": "Two panels: one 10 s flat frame, showing a smooth pattern of pixel sensitivity, and the difference of the pair, where that pattern is gone and only grainy noise is left.",
    "figure": "Photon transfer curve on logarithmic axes: the noise of single frames and of pair differences against the mean signal in DU, with the pairs used in the fit circled, the unlit pair at the left edge, and model curves for read noise, shot noise and their sum: flat at about 4 DU at low signal, then rising as the square root of the signal."
}


def main() -> int:
    missing = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            draws = cell.cell_type == "code" and any(
                kind.startswith("image/") for o in cell.get("outputs", []) for kind in o.get("data", {})
            )
            alt = DESCRIPTIONS.get(cell.get("id"))
            if alt and cell.metadata.get("mystnb", {}).get("image", {}).get("alt") != alt:
                cell.metadata.setdefault("mystnb", {}).setdefault("image", {})["alt"] = alt
                changed = True
            if draws and not cell.metadata.get("mystnb", {}).get("image", {}).get("alt"):
                missing.append(f"{path.name}: cell {cell.get('id')}")
        if changed:
            text = nbformat.writes(nb) + "\n"
            temporary = path.with_suffix(".ipynb.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
            print(f"described the figures of {path.relative_to(ROOT)}")
    for line in missing:
        print(f"no description yet: {line}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
