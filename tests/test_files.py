"""write_atomic: a file is written whole or not at all, whatever fails on the way."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from troupe.files import write_atomic


def test_a_disk_that_fills_mid_write_leaves_the_old_file_and_no_temp(tmp_path, mocker):
    target = tmp_path / "pi-1.json"
    target.write_text('{"target": "pi-2"}\n')
    # the disk fills when the data is flushed to it: a real part cannot fail on demand
    mocker.patch("troupe.files.os.fsync",
                 side_effect=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError) as raised:
        write_atomic(target, '{"target": "all"}\n')
    assert raised.value.errno == errno.ENOSPC
    assert target.read_text() == '{"target": "pi-2"}\n'  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pi-1.json"]  # no temp left behind


def test_a_rename_that_fails_leaves_no_temp(tmp_path, mocker):
    target = tmp_path / "RELEASE"
    mocker.patch("troupe.files.os.replace", side_effect=OSError(errno.EIO, "I/O error"))
    with pytest.raises(OSError):
        write_atomic(target, "v2\n")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp


def test_the_file_and_its_directory_reach_the_disk(tmp_path, mocker):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    mocker.patch("troupe.files.os.fsync", side_effect=spy)
    target = tmp_path / "state.json"
    write_atomic(target, "{}\n", mode=0o600)
    assert target.read_text() == "{}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert str(tmp_path) in synced  # the rename is durable, not only the data
    assert len(synced) == 2
