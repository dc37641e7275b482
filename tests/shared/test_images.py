"""Image checks: what is refused before decoding, what only a full decode reveals."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

from shared import images

LIMIT = 40_000_000


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


def with_ihdr_size(data: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (a decompression bomb's trick), CRC fixed up."""
    ihdr = bytearray(data[12:29])  # chunk type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", width, height)
    return data[:12] + bytes(ihdr) + struct.pack(">I", zlib.crc32(bytes(ihdr))) + data[33:]


def test_a_good_image_is_described(photos: dict[str, bytes]) -> None:
    info = images.inspect(photos["obama.jpg"], LIMIT)
    assert (info.format, info.media_type) == ("JPEG", "image/jpeg")
    assert info.width > 0 and info.height > 0
    assert info.sha256 == images.sha256_of(photos["obama.jpg"]) and len(info.sha256) == 64


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"%PDF-1.4\n" + b"x" * 100, b"\xff\xd8"])
def test_non_images_are_not_an_image(data: bytes) -> None:
    with pytest.raises(images.NotAnImage):
        images.inspect(data, LIMIT)


def test_a_truncated_jpeg_is_corrupt(photos: dict[str, bytes]) -> None:
    data = photos["obama.jpg"]
    with pytest.raises(images.CorruptImage):
        images.inspect(data[: len(data) // 2], LIMIT)


def test_a_bomb_is_refused_from_its_header_alone() -> None:
    bomb = with_ihdr_size(png(8, 8), 100_000, 100_000)
    with pytest.raises(images.ImageTooLarge, match="10000000000 pixels"):
        images.inspect(bomb, LIMIT)


def test_the_pixel_limit_is_the_settings_not_pillows() -> None:
    data = png(300, 200)
    assert images.inspect(data, 60_000).width == 300
    with pytest.raises(images.ImageTooLarge):
        images.inspect(data, 59_999)


def test_decode_turns_exif_rotated_photos_upright() -> None:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (40, 20), "blue").save(out, "JPEG", exif=exif)
    assert images.decode(out.getvalue(), LIMIT).size == (20, 40)


def test_media_type_of_stored_bytes(photos: dict[str, bytes]) -> None:
    assert images.media_type(photos["astronaut.png"]) == "image/png"
    assert images.media_type(b"junk") == "application/octet-stream"


def test_decodes_of_one_process_share_its_slots() -> None:
    # Given more threads than the process's decode slots
    inside, most, lock = 0, 0, threading.Lock()

    def decode_like() -> None:
        nonlocal inside, most
        with images.decode_slot():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)  # hold the slot, as a decode does, so the others must queue for it
            with lock:
                inside -= 1

    threads = [threading.Thread(target=decode_like) for _ in range(8)]
    # When they all decode at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no more than the slots ran together (sized once per process: the default here)
    assert most == images.DEFAULT_DECODE_CONCURRENCY


def test_a_truncated_jpeg_is_still_caught_by_the_reduced_check(photos: dict[str, bytes]) -> None:
    # The API's check decodes JPEGs at 1/8 scale: every block is still entropy-decoded
    data = photos["obama.jpg"]
    assert images.inspect(data, LIMIT).format == "JPEG"
    with pytest.raises(images.CorruptImage):
        images.inspect(data[: len(data) * 2 // 3], LIMIT)


def test_a_reduced_decode_keeps_the_longest_side_at_least_as_asked_and_says_its_scale() -> None:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: the upright size swaps
    Image.new("RGB", (1600, 800), "blue").save(out, "JPEG", exif=exif)
    data = out.getvalue()
    reduced = images.decode_reduced(data, LIMIT, 400)
    assert (reduced.scale, reduced.image.size) == (4, (200, 400))
    assert (reduced.width, reduced.height) == (800, 1600)
    assert images.decode_reduced(data, LIMIT, 401).scale == 2  # 1/4 would leave 400 < 401
    full = images.decode_reduced(data, LIMIT, 0)
    assert (full.scale, full.image.size, full.width, full.height) == (1, (800, 1600), 800, 1600)


def test_only_jpegs_larger_than_asked_are_decoded_reduced() -> None:
    for fmt, size, at_least in (("PNG", (1600, 800), 400), ("JPEG", (600, 300), 640)):
        out = io.BytesIO()
        Image.new("RGB", size, "blue").save(out, fmt)
        decoded = images.decode_reduced(out.getvalue(), LIMIT, at_least)
        assert (decoded.scale, decoded.image.size) == (1, size), fmt
