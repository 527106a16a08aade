"""Artifact files: written atomically, readable like any other file."""

import os

from descgen.io import atomic_write_json


def test_artifacts_are_written_with_the_mode_open_would_give(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    written = atomic_write_json(tmp_path / "report.json", {"a": 1})
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~mask
