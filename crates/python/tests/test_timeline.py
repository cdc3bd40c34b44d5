"""memform.transform(..., "timeline"): the SVG picture of the heap and resident sizes over
time (docs/timeline.md), its default name, and the errors of what it does not apply to."""

import xml.etree.ElementTree as ET

import pytest

import memform

from conftest import CAPTURES


def test_timeline_marks_the_peak(tmp_path):
    capture = CAPTURES / "v1.20.0-py3.11-default.bin"
    assert "timeline" in memform.FORMATS and "timeline" not in memform.REPORT_FORMATS
    written = memform.transform(capture, "timeline", tmp_path / "t.svg")
    assert written == tmp_path / "t.svg"
    root = ET.parse(written).getroot()
    peak = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id") == "peak"]
    # The peak report's total bytes of this capture (its CSV report's size column).
    assert [g.get("data-bytes") for g in peak] == ["417786"]
    with pytest.raises(ValueError, match="does not apply to the timeline format|do not apply to the timeline format"):
        memform.transform(capture, "timeline", tmp_path / "u.svg", leaks=True)
    assert not (tmp_path / "u.svg").exists()
    with pytest.raises(ValueError, match="pre-aggregated"):
        memform.transform(CAPTURES / "v1.20.0-py3.11-aggregate.bin", "timeline", tmp_path / "a.svg")
    assert not (tmp_path / "a.svg").exists()
