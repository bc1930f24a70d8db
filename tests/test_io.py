"""bench.io: every kind of image file a dataset may hold comes out as float32 RGB [3,H,W] in [0,1]."""
from __future__ import annotations

import io as _pyio
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from bench.errors import DataError
from bench.io import fit_square, image_size, read_image, read_mask, resize, save_png


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _chw(a: np.ndarray) -> np.ndarray:
    return a.transpose(2, 0, 1)


# ---------------------------------------------------------------------------------------------------------------
# bit depth and channel layouts
# ---------------------------------------------------------------------------------------------------------------
def test_8bit_rgb_png_exact(tmp_path: Path):
    a = _rng().integers(0, 256, (9, 13, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    t = read_image(tmp_path / "a.png")
    assert t.dtype == torch.float32 and tuple(t.shape) == (3, 9, 13)
    np.testing.assert_array_equal(t.numpy(), _chw(a).astype(np.float32) / np.float32(255))


def test_16bit_rgb_png_full_precision_and_matches_8bit(tmp_path: Path):
    a16 = _rng(1).integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    a16[0, 0] = (65535, 0, 0)  # a pure red pixel: channel order check
    assert cv2.imwrite(str(tmp_path / "a16.png"), a16[:, :, ::-1])  # OpenCV writes BGR
    a8 = np.rint(a16 / 257.0).astype(np.uint8)
    Image.fromarray(a8).save(tmp_path / "a8.png")

    t16, t8 = read_image(tmp_path / "a16.png"), read_image(tmp_path / "a8.png")
    assert t16.dtype == torch.float32 and tuple(t16.shape) == (3, 12, 10)
    assert torch.equal(t16[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert (t16 - t8).abs().max().item() <= 1 / 255
    # full precision, not Pillow's 8-bit truncation
    np.testing.assert_allclose(t16.numpy(), _chw(a16) / 65535.0, atol=1e-6)
    assert len(np.unique(t16.numpy())) > 256


def test_16bit_rgba_png_alpha_dropped(tmp_path: Path):
    a = _rng(2).integers(0, 65536, (6, 7, 4), dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "a.png"), a[:, :, [2, 1, 0, 3]])
    np.testing.assert_allclose(read_image(tmp_path / "a.png").numpy(), _chw(a[:, :, :3]) / 65535.0, atol=1e-6)


def test_16bit_grayscale_png(tmp_path: Path):
    g = _rng(3).integers(0, 65536, (8, 11), dtype=np.uint16)
    Image.fromarray(g).save(tmp_path / "g.png")  # uint16 -> mode I;16
    t = read_image(tmp_path / "g.png")
    assert tuple(t.shape) == (3, 8, 11)
    for c in range(3):
        np.testing.assert_allclose(t[c].numpy(), g / 65535.0, atol=1e-6)


def test_16bit_tiff_and_float_tiff(tmp_path: Path):
    a16 = _rng(13).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "a.tif"), a16[:, :, ::-1])
    np.testing.assert_allclose(read_image(tmp_path / "a.tif").numpy(), _chw(a16) / 65535.0, atol=1e-6)
    f = np.array([[0.1, 0.0, 0.25], [0.5, 1.0, 0.75]], np.float32)  # float data is read as [0, 1] (checked)
    Image.fromarray(f, mode="F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[0].numpy(), f)


def test_multi_frame_files_read_their_first_frame_and_a_preview_first_tiff_is_refused(tmp_path: Path):
    """A multi-page TIFF whose first page is a small preview was read as that thumbnail (a 6 x 5 sample scored in
    silence); animated and multi-page files otherwise read their first frame, as cv2.imread does."""
    rgb = _rng(4).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    first, second = Image.fromarray(rgb), Image.fromarray(255 - rgb)
    for ext, kw in (("gif", {}), ("webp", {"lossless": True}), ("png", {}), ("tif", {})):
        first.save(tmp_path / f"anim.{ext}", save_all=True, append_images=[second], **kw)
        with Image.open(tmp_path / f"anim.{ext}") as im:
            assert im.n_frames == 2
            want = np.asarray(im.convert("RGB"), dtype=np.float32) / 255
        got = read_image(tmp_path / f"anim.{ext}").permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=ext)
    first.resize((6, 5)).save(tmp_path / "preview.tif", save_all=True, append_images=[first])
    with pytest.raises(DataError, match=r"preview\.tif: a TIFF of 2 pages whose first page \(6 x 5\) is smaller "
                                        r"than page 2 \(24 x 20\)"):
        read_image(tmp_path / "preview.tif")
    with pytest.raises(DataError, match="preview"):
        read_mask(tmp_path / "preview.tif")


def test_signed_integer_tiffs_are_refused_not_wrapped(tmp_path: Path):
    """Pillow reads an int8 TIFF as unsigned (-100 became 156 / 255) and an int16 one as a 32-bit integer (every
    value near black, negatives clipped to 0): both were scored in silence. Unsigned 16-bit still reads."""
    tifffile = pytest.importorskip("tifffile")
    for dtype, bits in ((np.int8, 8), (np.int16, 16), (np.int32, 32)):
        tifffile.imwrite(tmp_path / "s.tif", np.array([[-100, 0], [100, 127]], dtype=dtype))
        with pytest.raises(DataError, match=rf"s\.tif: signed {bits}-bit integer samples"):
            read_image(tmp_path / "s.tif")
        with pytest.raises(DataError, match="signed"):
            read_mask(tmp_path / "s.tif")
    tifffile.imwrite(tmp_path / "u.tif", np.array([[0, 100], [200, 65535]], dtype=np.uint16))
    np.testing.assert_allclose(read_image(tmp_path / "u.tif")[0].numpy(), [[0, 100 / 65535], [200 / 65535, 1]],
                               atol=1e-7)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path):
    cmyk = Image.fromarray(_rng(14).integers(0, 256, (8, 8, 4), dtype=np.uint8), mode="CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK"
        ref = np.asarray(im.convert("RGB"), np.float32) / 255
    t = read_image(tmp_path / "c.jpg")
    assert tuple(t.shape) == (3, 8, 8)
    np.testing.assert_array_equal(t.numpy(), _chw(ref))


def test_grayscale_and_bilevel_become_rgb(tmp_path: Path):
    g = _rng(4).integers(0, 256, (7, 5), dtype=np.uint8)
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    t = read_image(tmp_path / "g.png")
    assert tuple(t.shape) == (3, 7, 5)
    for c in range(3):
        np.testing.assert_array_equal(t[c].numpy(), g.astype(np.float32) / np.float32(255))
    Image.fromarray(g > 127).convert("1").save(tmp_path / "b.png")
    b = read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(b[1].numpy(), (g > 127).astype(np.float32))


def test_palette_expanded_through_palette(tmp_path: Path):
    idx = _rng(5).integers(0, 4, (6, 9), dtype=np.uint8)
    pal = [[255, 0, 0], [0, 255, 0], [10, 20, 30], [200, 100, 50]]
    im = Image.fromarray(idx, mode="P")
    im.putpalette([v for c in pal for v in c] + [0] * (768 - 12))
    im.save(tmp_path / "p.png")
    expected = np.asarray(pal, dtype=np.float32)[idx] / np.float32(255)
    np.testing.assert_array_equal(read_image(tmp_path / "p.png").numpy(), _chw(expected))
    # a palette entry marked transparent: alpha is dropped, the palette colour stays
    im.info["transparency"] = 1
    im.save(tmp_path / "pt.png", transparency=1)
    np.testing.assert_array_equal(read_image(tmp_path / "pt.png").numpy(), _chw(expected))


def test_rgba_alpha_dropped_by_default_or_composited(tmp_path: Path):
    a = _rng(6).integers(0, 256, (5, 8, 4), dtype=np.uint8)
    Image.fromarray(a, mode="RGBA").save(tmp_path / "a.png")
    rgb = _chw(a[:, :, :3]).astype(np.float32) / 255
    al = a[None, :, :, 3].astype(np.float32) / 255
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").numpy(), rgb)
    np.testing.assert_allclose(read_image(tmp_path / "a.png", alpha="white").numpy(), rgb * al + (1 - al), atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / "a.png", alpha="black").numpy(), rgb * al, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        read_image(tmp_path / "a.png", alpha="grey")


def test_grey_with_alpha(tmp_path: Path):
    la = _rng(7).integers(0, 256, (4, 6, 2), dtype=np.uint8)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    t = read_image(tmp_path / "la.png")
    assert tuple(t.shape) == (3, 4, 6)
    np.testing.assert_array_equal(t[2].numpy(), la[:, :, 0].astype(np.float32) / np.float32(255))


# ---------------------------------------------------------------------------------------------------------------
# EXIF orientation
# ---------------------------------------------------------------------------------------------------------------
def _with_orientation(a: np.ndarray, orientation: int, path: Path, fmt: str, **kw) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(path, format=fmt, exif=exif.tobytes(), **kw)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int):
    a = _rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)  # not square: rotations swap H and W
    p = tmp_path / f"o{orientation}.png"
    _with_orientation(a, orientation, p, "PNG")
    with Image.open(p) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    t = read_image(p)
    np.testing.assert_array_equal(t.numpy(), _chw(ref).astype(np.float32) / np.float32(255))
    assert image_size(p) == tuple(t.shape[-2:])
    # masks follow the same orientation as their images
    m = read_mask(p)
    assert tuple(m.shape[-2:]) == tuple(t.shape[-2:])


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path):
    upright = np.full((48, 32, 3), 40, np.uint8)  # portrait, 48 tall
    upright[:12, :12] = (230, 20, 20)  # red block top-left
    upright[-12:, -12:] = (20, 20, 230)  # blue block bottom-right
    # a camera held sideways stores the pixels rotated and tags orientation 6 ("rotate 90 CW to display")
    stored = np.rot90(upright, 1).copy()  # 32 tall x 48 wide
    _with_orientation(stored, 6, tmp_path / "cam.jpg", "JPEG", quality=95)
    t = read_image(tmp_path / "cam.jpg")
    assert tuple(t.shape) == (3, 48, 32)
    tl = t[:, 2:10, 2:10].mean(dim=(1, 2))
    br = t[:, -10:-2, -10:-2].mean(dim=(1, 2))
    assert tl[0] > 0.8 and tl[2] < 0.2, tl
    assert br[2] > 0.8 and br[0] < 0.2, br


def test_exif_orientation_applies_to_16bit_colour(tmp_path: Path):
    """16-bit colour PNGs decode through OpenCV; the orientation from the eXIf chunk must still be applied."""
    import struct
    import zlib

    a = _rng(15).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".png", a[:, :, ::-1])
    png = buf.tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    data = exif.tobytes()
    data = data[6:] if data.startswith(b"Exif\x00\x00") else data
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    (tmp_path / "o.png").write_bytes(png[:33] + chunk + png[33:])  # right after IHDR
    t = read_image(tmp_path / "o.png")
    assert tuple(t.shape) == (3, 6, 4)
    np.testing.assert_allclose(t.numpy(), _chw(np.rot90(a, -1)) / 65535.0, atol=1e-6)


@pytest.mark.parametrize("kind", ["u8_rgb", "u8_grey", "u8_rgba", "u16_rgb", "u16_grey", "f32_grey", "f32_rgb"])
def test_tiff_orientation_is_applied_once_for_every_sample_format(tmp_path: Path, kind: str):
    """A TIFF's orientation tag was applied twice (Pillow turns TIFFs itself as it loads them, and the reader turned
    the result again: 180 degrees off, or a transposed shape), Pillow scrambled uncompressed grey and RGBA ones with
    a turning tag, and a float RGB TIFF was read as stored. Every TIFF now comes out as its tag says, as other
    formats do, also big-endian and BigTIFF."""
    tifffile = pytest.importorskip("tifffile")
    from bench.io import _orient

    f = _rng(11).random((20, 24, 3)).astype(np.float32)
    a, top = {"u8_rgb": ((f * 255).astype(np.uint8), 255), "u8_grey": ((f[..., 0] * 255).astype(np.uint8), 255),
              "u8_rgba": ((np.dstack([f, f[..., :1]]) * 255).astype(np.uint8), 255),
              "u16_rgb": ((f * 65535).astype(np.uint16), 65535),
              "u16_grey": ((f[..., 0] * 65535).astype(np.uint16), 65535),
              "f32_grey": (f[..., 0], 1), "f32_rgb": (f, 1)}[kind]
    extra = {"extrasamples": [2]} if a.ndim == 3 and a.shape[2] == 4 else {}
    for orientation in range(1, 9):
        for opts in ({}, {"compression": "zlib"}, {"byteorder": ">"}, {"bigtiff": True}):
            p = tmp_path / f"o{orientation}.tif"
            tifffile.imwrite(p, a, photometric="rgb" if a.ndim == 3 else "minisblack",
                             extratags=[(274, "H", 1, orientation, True)], **extra, **opts)
            want = _orient(a, orientation).astype(np.float64) / top
            want = np.repeat(want[..., None], 3, axis=2) if want.ndim == 2 else want[..., :3]
            got = read_image(p).permute(1, 2, 0).numpy()
            assert got.shape == want.shape, (orientation, opts)
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{orientation} {opts}")
            if kind != "f32_rgb":  # (Pillow cannot open a float RGB TIFF at all)
                assert image_size(p) == want.shape[:2]
    m = np.zeros((20, 24), np.uint8)
    m[2:6, 3:12] = 255
    tifffile.imwrite(tmp_path / "m.tif", m, extratags=[(274, "H", 1, 6, True)])
    np.testing.assert_array_equal(read_mask(tmp_path / "m.tif")[0].numpy(), np.rot90(m, -1) > 0)
    tifffile.imwrite(tmp_path / "long.tif", m, extratags=[(274, "I", 1, 8, True)])  # the tag stored as a LONG
    np.testing.assert_array_equal(read_mask(tmp_path / "long.tif")[0].numpy(), np.rot90(m, 1) > 0)


# ---------------------------------------------------------------------------------------------------------------
# unreadable files
# ---------------------------------------------------------------------------------------------------------------
def _png_bytes(a: np.ndarray) -> bytes:
    buf = _pyio.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(a: np.ndarray) -> bytes:
    buf = _pyio.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG")
    return buf.getvalue()


_NOISE = np.random.default_rng(8).integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("name,content", [
    ("zero.png", b""),
    ("truncated.png", _png_bytes(_NOISE)[: len(_png_bytes(_NOISE)) // 2]),
    ("truncated.jpg", _jpeg_bytes(_NOISE)[: len(_jpeg_bytes(_NOISE)) // 2]),
    ("header_only.png", _png_bytes(_NOISE)[:40]),
    ("text.png", b"this is not an image at all\n"),
    ("corrupt.png", _png_bytes(_NOISE)[:60] + bytes(200) + _png_bytes(_NOISE)[260:]),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path: Path, name: str, content: bytes):
    p = tmp_path / name
    p.write_bytes(content)
    for reader in (read_image, read_mask):
        with pytest.raises(DataError) as e:
            reader(p)
        assert str(p) in str(e.value)


def test_missing_file_and_directory_raise_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="not found") as e:
        read_image(tmp_path / "nope.png")
    assert "nope.png" in str(e.value)
    with pytest.raises(DataError, match="directory"):
        read_image(tmp_path)


def test_16bit_grey_alpha_png_full_precision(tmp_path: Path):
    """Colour type 4 at 16 bits (Pillow widens it to 8-bit RGBA): decoded at full precision, alpha dropped."""
    import struct
    import zlib

    g = _rng(16).integers(0, 65536, (3, 4, 2), dtype=np.uint16)
    raw = b"".join(b"\x00" + g[y].astype(">u2").tobytes() for y in range(g.shape[0]))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", g.shape[1], g.shape[0], 16, 4, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    (tmp_path / "la16.png").write_bytes(png)
    t = read_image(tmp_path / "la16.png")
    for c in range(3):
        np.testing.assert_allclose(t[c].numpy(), g[:, :, 0] / 65535.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------------------------------
def test_mask_binary_and_threshold_at_half_range(tmp_path: Path):
    g = np.array([[0, 1, 127, 128, 200, 255]], np.uint8)
    Image.fromarray(g).save(tmp_path / "m.png")
    m = read_mask(tmp_path / "m.png")
    assert m.dtype == torch.bool and tuple(m.shape) == (1, 1, 6)
    assert m[0, 0].tolist() == [False, False, False, True, True, True]

    g16 = np.array([[0, 32767, 32768, 65535]], np.uint16)
    Image.fromarray(g16).save(tmp_path / "m16.png")
    assert read_mask(tmp_path / "m16.png")[0, 0].tolist() == [False, False, True, True]


def test_colour_and_transparent_layer_masks(tmp_path: Path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1:3, 1:3] = (255, 0, 0)  # a hole painted red
    Image.fromarray(rgb).save(tmp_path / "red.png")
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(read_mask(tmp_path / "red.png")[0].numpy(), expected)

    rgba = np.full((4, 4, 4), 255, np.uint8)
    rgba[:, :, 3] = 0
    rgba[1:3, 1:3, 3] = 255  # white strokes on a transparent layer (white everywhere, alpha marks the hole)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "layer.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "layer.png")[0].numpy(), expected)


def test_masks_whose_colour_and_transparency_disagree(tmp_path: Path):
    """An RGBA mask was read by its colour alone: a photo whose transparent pixels are the hole (the mask image
    editing APIs take) became a hole wherever the photo was bright, and a red stroke on a transparent layer whose
    clear pixels store white became a hole over the whole image. The clear pixels' stored colour is not seen."""
    from bench.io import mask_from_array

    expected = np.zeros((16, 20), bool)
    expected[4:9, 5:12] = True
    layer = np.zeros((16, 20, 4), np.uint8)
    layer[..., :3] = 255  # clear pixels that store white
    layer[expected] = (255, 0, 0, 255)  # the hole: an opaque red stroke
    Image.fromarray(layer, mode="RGBA").save(tmp_path / "layer.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "layer.png")[0].numpy(), expected)

    photo = np.dstack([_rng(3).integers(0, 256, (16, 20, 3), dtype=np.uint8), np.full((16, 20), 255, np.uint8)])
    photo[expected, 3] = 0  # transparent where to edit, opaque photo elsewhere
    erased = photo.copy()
    erased[expected] = 0  # an editor's eraser: clear pixels store black
    for stem, a in (("photo", photo), ("erased", erased)):
        Image.fromarray(a, mode="RGBA").save(tmp_path / f"{stem}.png")
        with pytest.raises(DataError, match=rf"{stem}\.png: the mask's colour and its transparency mark different "
                                            r"holes .*35 transparent"):
            read_mask(tmp_path / f"{stem}.png")
    with pytest.raises(DataError, match="row 7: the mask's colour and its transparency"):
        mask_from_array(photo, "row 7")

    # colour and transparency that agree (white opaque hole, clear black elsewhere), and an alpha that varies
    # without any clear pixel (254 / 255), read by colour as before
    agree = np.zeros((16, 20, 4), np.uint8)
    agree[expected] = 255
    nearly = np.dstack([np.where(expected, 255, 0).astype(np.uint8)[..., None].repeat(3, 2),
                        np.where(expected, 255, 254).astype(np.uint8)])
    for stem, a in (("agree", agree), ("nearly", nearly)):
        Image.fromarray(a, mode="RGBA").save(tmp_path / f"{stem}.png")
        np.testing.assert_array_equal(read_mask(tmp_path / f"{stem}.png")[0].numpy(), expected)


def test_a_float_mask_with_nan_is_an_error_not_a_guess(tmp_path: Path):
    """NaN in a float mask (a float TIFF, an hf float array) compared as 'not above 0.5': those pixels silently
    became kept pixels, while the same NaN in an image is an error."""
    from bench.io import mask_from_array

    m = np.zeros((12, 16), np.float32)
    m[3:8, 4:10] = 1.0
    cv2.imwrite(str(tmp_path / "ok.tif"), m)
    assert int(read_mask(tmp_path / "ok.tif").sum()) == 30
    m[5, 5], m[0, 0] = np.nan, -np.inf
    cv2.imwrite(str(tmp_path / "nan.tif"), m)
    with pytest.raises(DataError, match=r"nan\.tif: float mask has 2 NaN or infinite values"):
        read_mask(tmp_path / "nan.tif")
    with pytest.raises(DataError, match=r"row 3: float mask has 2 NaN"):
        mask_from_array(m, "row 3")


def test_jpeg_compressed_mask_becomes_binary_and_aligned(tmp_path: Path):
    m = np.zeros((32, 32), np.uint8)
    m[8:24, 4:20] = 255
    Image.fromarray(m).save(tmp_path / "m.jpg", quality=75)
    got = read_mask(tmp_path / "m.jpg")[0].numpy()
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, m > 127)


# ---------------------------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------------------------
def test_save_png_round_trips(tmp_path: Path):
    img = torch.from_numpy(_rng(9).random((3, 10, 14), dtype=np.float32))
    save_png(tmp_path / "sub" / "img.png", img)
    back = read_image(tmp_path / "sub" / "img.png")
    assert (back - img).abs().max().item() <= 0.5 / 255 + 1e-6
    save_png(tmp_path / "img16.png", img, bits=16)
    assert (read_image(tmp_path / "img16.png") - img).abs().max().item() <= 0.5 / 65535 + 1e-6
    mask = torch.from_numpy(_rng(10).random((1, 10, 14)) > 0.5)
    save_png(tmp_path / "mask.png", mask)
    assert torch.equal(read_mask(tmp_path / "mask.png"), mask)
    with Image.open(tmp_path / "mask.png") as im:
        assert im.mode == "L" and set(np.unique(np.asarray(im)).tolist()) <= {0, 255}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["img.png", "img16.png", "mask.png", "sub"]  # no temp files


def test_save_png_stores_the_levels_a_run_stores(tmp_path: Path):
    """save_png and bench.pixels.quantize (what a run stores) give the same 8-bit level for every float, ties
    included: float64 rounding put values near (k + 0.5) / 255 one level away."""
    from bench.pixels import quantize

    k = np.arange(255, dtype=np.float32)
    mid = (k + np.float32(0.5)) / np.float32(255)
    vals = np.concatenate([np.nextafter(mid, np.float32(0)), mid, np.nextafter(mid, np.float32(1))])
    vals = np.concatenate([vals, _rng(11).random(1000, dtype=np.float32)]).astype(np.float32)
    img = torch.from_numpy(np.broadcast_to(vals[None, None, :], (3, 1, vals.size)).copy())
    save_png(tmp_path / "ties.png", img)
    with Image.open(tmp_path / "ties.png") as im:
        stored = np.asarray(im.convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(stored, quantize(img).numpy())


def test_save_png_refuses_bad_input(tmp_path: Path):
    bad = torch.zeros(3, 4, 4)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        save_png(tmp_path / "nan.png", bad)
    with pytest.raises(ValueError, match="shape"):
        save_png(tmp_path / "two.png", torch.zeros(2, 4, 4))
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------------
# crop and resize
# ---------------------------------------------------------------------------------------------------------------
def test_fit_square_takes_the_centre():
    img = torch.from_numpy(_rng(11).random((3, 20, 30), dtype=np.float32))
    out = fit_square(img, 20)  # no resize needed: exactly the central 20 columns
    assert torch.equal(out, img[:, :, 5:25])
    tall = torch.from_numpy(_rng(12).random((3, 31, 10), dtype=np.float32))
    assert torch.equal(fit_square(tall, 10), tall[:, 10:20, :])


def test_fit_square_matches_pillow_bicubic_and_antialiases():
    from skimage import data

    a = data.coffee()
    h, w = a.shape[:2]
    s = min(h, w)
    crop = a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    ref = np.asarray(Image.fromarray(crop).resize((64, 64), Image.BICUBIC)).astype(np.float32) / 255
    out = fit_square(torch.from_numpy(_chw(a).astype(np.float32) / 255), 64)
    assert tuple(out.shape) == (3, 64, 64) and out.dtype == torch.float32
    diff = np.abs(out.numpy() - _chw(ref))
    assert diff.mean() < 3e-3 and diff.max() < 0.06
    # a 1-pixel checkerboard shrunk 8x averages to grey (aliasing would keep it black/white)
    cb = (torch.arange(128)[:, None] + torch.arange(128)[None, :]) % 2
    small = fit_square(cb.float()[None].expand(3, -1, -1), 16)
    assert (small - 0.5).abs().max().item() < 0.05


def test_masks_resize_nearest_and_stay_aligned():
    m = torch.zeros(1, 40, 60, dtype=torch.bool)
    m[:, 10:30, 20:40] = True  # centred square hole
    out = fit_square(m, 20)
    assert out.dtype == torch.bool and tuple(out.shape) == (1, 20, 20)
    expected = torch.zeros(1, 20, 20, dtype=torch.bool)
    expected[:, 5:15, 5:15] = True  # the crop keeps columns 10..50, then halves
    assert torch.equal(out, expected)
    batch = torch.stack([m, ~m])
    assert tuple(resize(batch, (8, 12)).shape) == (2, 1, 8, 12)
    with pytest.raises(ValueError):
        fit_square(m, 0)


def test_one_rule_writes_a_mask_file_for_another_program():
    """`bench.pixels.mask_file_u8` is what the `command` backend and `bench export --inputs` write: the hole at the
    chosen value (255 or 0), the kept pixels at the other; any other value is refused by name."""
    from bench.pixels import check_mask_hole_value, mask_file_u8

    holes = np.array([[True, False], [False, True]])
    assert mask_file_u8(holes).tolist() == [[255, 0], [0, 255]]
    assert mask_file_u8(holes, 0).tolist() == [[0, 255], [255, 0]] and mask_file_u8(holes, 0).dtype == np.uint8
    for bad in (128, 1, True, "255"):
        with pytest.raises(ValueError, match="mask_hole_value must be 255 .white = hole. or 0"):
            check_mask_hole_value(bad, "mask_hole_value")
