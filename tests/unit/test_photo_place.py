"""Where a photo says it was taken: EXIF GPS read as a phone writes it, or nothing."""

import io

import pytest
from PIL import Image

from patrol.evidence import photo_place
from tests.conftest import picture


def test_a_phones_gps_place_is_read_in_decimal_degrees_with_its_hemispheres():
    lat, lng = photo_place(picture(gps=(30.7552, 120.7601)))
    assert lat == pytest.approx(30.7552, abs=1e-7) and lng == pytest.approx(120.7601, abs=1e-7)
    lat, lng = photo_place(picture(gps=(-33.8688, -70.6693)))  # south and west count negative
    assert lat == pytest.approx(-33.8688, abs=1e-7) and lng == pytest.approx(-70.6693, abs=1e-7)


def test_no_place_is_said_for_a_photo_without_gps_a_null_island_or_broken_metadata():
    assert photo_place(picture()) is None
    assert photo_place(picture("PNG")) is None
    assert photo_place(picture(gps=(0.0, 0.0))) is None  # a receiver without a fix writes zeros
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 45.0, 0.0)}  # a latitude and no longitude
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG", exif=exif.tobytes())
    assert photo_place(out.getvalue()) is None
    assert photo_place(b"\xff\xd8\xff not a picture") is None
