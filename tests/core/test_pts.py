"""The .pts reader and writer: 1-based on disk, tolerant of layout, strict about content."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import FormatError
from core.formats.pts import format_pts, parse_pts, read_pts, write_pts
from core.landmarks import mean_shape


def shape() -> np.ndarray:
    return (mean_shape() * 80 + 150.123456).astype(np.float32)


def test_write_then_read_is_lossless_and_one_based_on_disk(tmp_path):
    path = tmp_path / "a.pts"
    write_pts(path, shape())
    first_point = path.read_text().splitlines()[3].split()
    assert float(first_point[0]) == pytest.approx(shape()[0, 0] + 1, abs=1e-5)
    np.testing.assert_allclose(read_pts(path), shape(), atol=1e-4)


def test_layout_variants_are_accepted(tmp_path):
    rows = "\r\n".join(f"{x + 1} {y + 1}" for x, y in shape())
    text = f"version: 1\r\nn_points:68\r\n\r\n{{\r\n{rows}\r\n}}"
    np.testing.assert_allclose(parse_pts(text), shape(), atol=1e-4)


def bad_files() -> dict[str, tuple[str, str]]:
    good = format_pts(shape()).splitlines()
    return {
        "67 points": ("\n".join(good[:3] + good[4:]), "says 68 but the file has 67"),
        "67 declared": ("\n".join(["version: 1", "n_points: 67", *good[2:4], *good[5:]]),
                        "expected 68 points, found 67"),
        "nan": ("\n".join(good[:10] + ["nan 3.0"] + good[11:]), "line 11: 'nan' is not a finite"),
        "text": ("\n".join(good[:10] + ["12.0 abc"] + good[11:]), "line 11: 'abc' is not a num"),
        "three numbers": ("\n".join(good[:10] + ["1 2 3"] + good[11:]), "line 11: expected 'x y'"),
        "no closing brace": ("\n".join(good[:-1]), "missing '}'"),
        "no opening brace": ("\n".join(good[:2] + good[3:]), "unexpected header line|missing '{'"),
        "no n_points": ("\n".join(good[:1] + good[2:]), "missing the n_points"),
    }


@pytest.mark.parametrize("case", sorted(bad_files()))
def test_damaged_files_name_the_file_and_line(tmp_path, case):
    text, message = bad_files()[case]
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(FormatError, match=message) as info:
        read_pts(path)
    assert str(path) in str(info.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_pts(tmp_path / "none.pts")
    (tmp_path / "bin.pts").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(FormatError, match="not a text file"):
        read_pts(tmp_path / "bin.pts")
