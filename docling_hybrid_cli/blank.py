"""Is a rendered page blank? A cheap, conservative look at the pixels the renderer holds.

DeepSeek-OCR answers a blank page with an empty string, and every other
backend has nothing to say either, so asking them costs requests (and free
quota) for nothing. A page counts as blank only when it is clearly so: no
text layer (the caller checks) and an image in which no small patch holds
a mark. Saying "blank" wrongly would lose content, saying "not blank"
wrongly only costs a request that ends as an empty page anyway, so every
doubt answers "not blank":

* A pixel is *marked* when it differs from the page's background (its most
  common level) by more than :data:`INK_LEVELS` -- a fixed threshold, so a
  noisy scan never raises it and faint content (light grey text, pencil, a
  thin rule) stays marked.
* A patch of :data:`PATCH` x :data:`PATCH` pixels holds a mark when at least
  :data:`MIN_MARKED` of its pixels are marked: a stroke or a dot does, while
  single pixels of sensor noise or dust, scattered at random, almost never
  gather that many in one patch.
* The grey image decides first; a page that looks blank in grey is checked
  again in each colour band, so colour that has the background's brightness
  is not missed.

Most pages are never looked at: the encoded page's size already says a busy
page is not blank (:func:`might_be_blank`). The look itself is Pillow's C
code -- grey conversion, box reductions, histograms, a look-up table -- a few
milliseconds for a page with a little text, ~15 for a blank one
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

from typing import cast

from PIL import Image

__all__ = [
    "BUSY_BYTES_PER_PIXEL",
    "INK_LEVELS",
    "MIN_MARKED",
    "PATCH",
    "looks_blank",
    "might_be_blank",
]

BUSY_BYTES_PER_PIXEL = 0.12
"""Encoded bytes a pixel above which a page holds too much to be blank (see might_be_blank)."""

INK_LEVELS = 16
"""Difference from the background (of 255) that makes a pixel a mark: ~6 % contrast."""
PATCH = 8
"""Side in pixels of the patches marks are counted in (a stroke at 144 dpi is 1-3 px wide)."""
MIN_MARKED = 4
"""Marked pixels that make a patch hold a mark: a 2x2 dot does, stray noise pixels do not."""
_SURELY_INKED = 0.005
"""Share of marked pixels above which a page is not blank without looking at patches."""


def might_be_blank(encoded: bytes, width: int, height: int) -> bool:
    """Whether a page encoded this small is worth :func:`looks_blank` (free: the size is known).

    A blank Letter page at 144 dpi is ~0.016 bytes a pixel as JPEG q90, a few
    lines of text ~0.03, paper grain of +-3 levels ~0.1, a page of text
    0.15-0.3. A page above :data:`BUSY_BYTES_PER_PIXEL` is simply not blank,
    which spares the pages that hold most documents any look at all.
    """
    return len(encoded) <= BUSY_BYTES_PER_PIXEL * width * height


def looks_blank(image: Image.Image) -> bool:
    """True when no patch of ``image`` holds a mark, in grey or in any colour band."""
    if not _band_blank(image.convert("L")):
        return False
    if image.mode == "L":
        return True
    # Colour at the background's brightness shows only in the colour bands.
    colour = image if image.mode in ("RGB", "RGBX") else image.convert("RGB")
    return all(_band_blank(band) for band in colour.split()[:3])


def _band_blank(band: Image.Image) -> bool:
    """One 8-bit band: no patch has ``MIN_MARKED`` pixels away from the background."""
    # Background and the quick "surely inked" exit from a half-size copy: its
    # histogram costs a fifth of the full one, and a mark in it is a mark in
    # the page (an average strays from the background only if a pixel does).
    coarse = band.reduce(2)
    histogram = coarse.histogram()
    background = max(range(256), key=histogram.__getitem__)
    low, high = background - INK_LEVELS, background + INK_LEVELS
    marked = sum(histogram[: max(low, 0)]) + sum(histogram[high + 1 :])
    if marked > _SURELY_INKED * coarse.width * coarse.height:
        return False
    darkest, lightest = cast(tuple[int, int], band.getextrema())
    if low <= darkest and lightest <= high:
        return True
    # Thin, faint strokes survive only at full size: count marked pixels per patch there.
    mask = band.point([0 if low <= level <= high else 255 for level in range(256)])
    patches = mask.reduce(PATCH)  # each patch's mean: 255 x its share of marked pixels
    threshold = (MIN_MARKED * 255) // (PATCH * PATCH)
    return sum(patches.histogram()[threshold:]) == 0
