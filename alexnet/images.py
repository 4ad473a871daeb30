"""Reading the images people upload: any bytes in, an RGB PIL image or a clear error out.

Uploads arrive in every shape a camera or an editor writes: CMYK JPEGs,
16-bit PNGs, transparent PNGs and GIFs, animations, phone photos that are
stored sideways with an EXIF "rotate me" tag. ``load_image`` turns each into
the plain 8-bit RGB image the models were trained on, and turns everything
else into an ``ImageError`` whose message a user can act on.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

READABLE = "PNG, JPEG, WebP, BMP, GIF"
# PIL's format names for READABLE; MPO is the multi-picture JPEG many phones write.
FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "BMP", "GIF"}
# 40 megapixels: larger than any camera photo people upload, small enough that
# decoding one cannot take the server's memory (PIL's own guard is 89 MP).
MAX_PIXELS = 40_000_000
BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white, as browsers do


class ImageError(ValueError):
    """An upload that cannot be used as an image, with a message for the user."""


def _not_readable(detail: str) -> ImageError:
    return ImageError(f"this file is not an image we can read ({READABLE}): {detail}")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open and fully decode the first frame, mapping PIL's failures to ImageError."""
    with warnings.catch_warnings():
        # PIL warns (rather than fails) between 1x and 2x its limit: refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"the image is too large to open safely ({e}). Resize it and "
                             "upload again.") from None
        except UnidentifiedImageError:
            raise _not_readable("its contents are not a known image format") from None
        if im.format not in FORMATS:
            raise _not_readable(f"it is a {im.format} file")
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(f"the image is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels); the "
                             f"limit is {max_pixels / 1e6:.0f} megapixels. Resize it and upload again.")
        try:
            im.seek(0)  # animated GIF/WebP/PNG: the first frame
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            if "truncated" in str(e) or isinstance(e, EOFError):
                raise ImageError("the image file is truncated (cut short, e.g. an unfinished "
                                 "download or copy); upload the complete file") from None
            raise _not_readable(f"the file is damaged ({type(e).__name__}: {e})") from None
    return im


def _flatten_alpha(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB, keeping what the picture looks like."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _flatten_alpha(im)
    if mode == "P":
        # A palette with a transparent index: flatten it like any alpha.
        return _flatten_alpha(im) if "transparency" in im.info else im.convert("RGB")
    if mode.startswith("I") or mode == "F":
        # 16-bit (I;16*) and 32-bit (I, which PIL also uses for 16-bit PNGs) grey:
        # PIL's convert("L") clips at 255 instead of scaling, so scale 0..65535 to 0..255.
        a = np.asarray(im, dtype=np.float64)
        if mode != "F" or a.max(initial=0) > 1.0:
            a = a / 257.0
        else:
            a = a * 255.0  # float images in [0, 1]
        grey = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    return im.convert("RGB")  # RGB, L, 1, CMYK, YCbCr, ...


def load_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Upload bytes -> an upright 8-bit RGB PIL image.

    Raises ``ImageError`` for an empty file, a file that is not a PNG, JPEG,
    WebP, BMP or GIF, a truncated file, or one over ``max_pixels``.
    """
    if not data:
        raise ImageError("the file is empty (0 bytes); upload an image "
                         f"({READABLE})")
    im = _open(bytes(data), max_pixels)
    try:
        im = ImageOps.exif_transpose(im)  # phone photos stored sideways
    except Exception:  # noqa: BLE001 - a broken EXIF block: keep the pixels as stored
        pass
    return _to_rgb(im).copy()
