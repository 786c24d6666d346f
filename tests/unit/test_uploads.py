"""Uploads live in one managed folder: one file per content, swept when stale, removed after use."""

from __future__ import annotations

import os
import time

from patrol.uploads import discard, save_upload, scratch_file, sweep, upload_dir


def test_the_same_upload_on_every_rerun_is_one_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPATROL_UPLOAD_DIR", str(tmp_path))
    first = save_upload("../../etc/事件 2026.csv", b"id,time\n")
    again = save_upload("../../etc/事件 2026.csv", b"id,time\n")
    assert first == again and first.parent == tmp_path and first.name.endswith("事件_2026.csv")
    assert list(tmp_path.iterdir()) == [first]
    discard(first)
    assert list(tmp_path.iterdir()) == []


def test_stale_uploads_are_swept_at_the_next_save(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPATROL_UPLOAD_DIR", str(tmp_path))
    old = save_upload("old.csv", b"old")
    three_hours_ago = time.time() - 3 * 3600
    os.utime(old, (three_hours_ago, three_hours_ago))
    new = save_upload("new.csv", b"new")
    assert list(upload_dir().iterdir()) == [new]
    assert sweep() == 0


def test_a_scratch_file_is_gone_once_read(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPATROL_UPLOAD_DIR", str(tmp_path))
    with scratch_file("incidents.csv") as out:
        out.write_text("x")
    assert not out.exists() and list(tmp_path.iterdir()) == []
