"""The wording of durations, sizes, statuses and folders."""

from __future__ import annotations

from flowyml_tui import display


def test_durations_and_sizes_read_naturally():
    assert [display.duration(s) for s in (None, 0.0004, 0.012, 3.21, 245, 7380)] == \
        ["-", "0.4 ms", "12 ms", "3.2 s", "4m 05s", "2h 03m"]
    assert [display.size(n) for n in (None, 812, 4198, 1_300_000, 5 << 40)] == \
        ["-", "812 B", "4.1 KB", "1.2 MB", "5.0 TB"]


def test_statuses_have_a_glyph_a_word_and_a_style():
    assert (display.glyph("cached"), display.label("cached")) == ("↺", "cached")
    assert (display.glyph("failed"), display.label("success"), display.run_label("success")) == ("✗", "ran", "success")
    assert display.label("something new") == "something new" and display.glyph("something new") == "?"


def test_folders_under_home_are_shortened(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert display.folder(tmp_path / "proj") == "~/proj"
    assert display.folder("/elsewhere/proj") == "/elsewhere/proj"
    assert display.home_paths(f'File "{tmp_path}/proj/p.py", line 3') == 'File "~/proj/p.py", line 3'
