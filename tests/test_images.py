"""alexnet.images.load_image: every upload case built here with PIL, checked by its pixels."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from alexnet.images import ImageError, load_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def pixel(im, xy):
    return im.getpixel(xy)


def close(a, b, tol=6):
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_each_readable_format(fmt):
    im = Image.new("RGB", (12, 8), (200, 30, 40))
    out = load_image(encode(im, fmt))
    assert out.mode == "RGB" and out.size == (12, 8)
    assert close(pixel(out, (5, 5)), (200, 30, 40), tol=12)  # JPEG/GIF quantise


def test_empty_file():
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        load_image(b"")


def test_not_an_image_names_the_formats():
    with pytest.raises(ImageError, match=r"not an image we can read \(PNG, JPEG, WebP, BMP, GIF\)"):
        load_image(b"name,value\n1,2\n" * 20)


def test_other_image_format_is_refused_by_name():
    with pytest.raises(ImageError, match=r"PNG, JPEG, WebP, BMP, GIF.*TIFF"):
        load_image(encode(Image.new("RGB", (4, 4)), "TIFF"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(ImageError, match="truncated"):
        load_image(data[: len(data) // 2])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (PIL checks the size before decoding)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_caught_by_pil():
    # 100000 x 100000 = 10 gigapixels: PIL's own DecompressionBombError.
    with pytest.raises(ImageError, match="too large"):
        load_image(_png_header_only(100_000, 100_000))


def test_decompression_bomb_over_our_limit():
    with pytest.raises(ImageError, match=r"8000x6000 pixels \(48 megapixels\).*limit is 40"):
        load_image(_png_header_only(8000, 6000))
    with pytest.raises(ImageError, match="limit"):
        load_image(encode(Image.new("RGB", (50, 50)), "PNG"), max_pixels=1000)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta+yellow = red
    out = load_image(encode(cmyk, "JPEG", quality=95))
    assert out.mode == "RGB"
    assert close(pixel(out, (8, 8)), (255, 0, 0), tol=8)


def test_16_bit_grey_png_is_scaled_not_clipped():
    a = np.array([[0, 32896, 65535]], dtype=np.uint16)  # 32896 = 128 * 257
    im = Image.fromarray(a)  # uint16 -> mode I;16
    assert im.mode == "I;16"
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB"
    assert [pixel(out, (x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_rgba_flattened_on_white():
    im = Image.new("RGBA", (3, 1))
    im.putdata([(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)])
    out = load_image(encode(im, "PNG"))
    assert pixel(out, (0, 0)) == (255, 255, 255)  # fully transparent -> the white background
    assert pixel(out, (1, 0)) == (0, 0, 255)  # opaque stays
    assert close(pixel(out, (2, 0)), (127, 127, 127), tol=1)  # half black over white


def test_la_flattened_on_white():
    im = Image.new("LA", (2, 1))
    im.putdata([(0, 0), (40, 255)])
    out = load_image(encode(im, "PNG"))
    assert [pixel(out, (x, 0)) for x in range(2)] == [(255, 255, 255), (40, 40, 40)]


def test_palette_with_transparent_index():
    im = Image.new("P", (2, 1))
    im.putpalette([0, 255, 0, 255, 0, 0] + [0] * 762)  # index 0 green, 1 red
    im.putdata([0, 1])
    out = load_image(encode(im, "PNG", transparency=0))
    assert [pixel(out, (x, 0)) for x in range(2)] == [(255, 255, 255), (255, 0, 0)]
    out = load_image(encode(im, "PNG"))  # the same palette without transparency
    assert pixel(out, (0, 0)) == (0, 255, 0)


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = load_image(data)
    assert out.mode == "RGB" and pixel(out, (4, 4)) == (255, 0, 0)


def test_exif_rotated_photo_comes_out_upright():
    # Stored 40 wide x 20 high: left half red, right half blue. Orientation 6 says
    # "rotate 90 degrees clockwise to display", so the left column becomes the top row.
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(encode(Image.fromarray(a), "JPEG", quality=95, exif=exif.tobytes()))
    assert out.size == (20, 40)
    assert close(pixel(out, (10, 5)), (255, 0, 0), tol=10)  # top: red
    assert close(pixel(out, (10, 35)), (0, 0, 255), tol=10)  # bottom: blue


def test_bilevel_and_grey():
    out = load_image(encode(Image.new("1", (4, 4), 1), "BMP"))
    assert pixel(out, (0, 0)) == (255, 255, 255)
    out = load_image(encode(Image.new("L", (4, 4), 77), "PNG"))
    assert pixel(out, (0, 0)) == (77, 77, 77)
