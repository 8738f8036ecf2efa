"""Outputs put in place whole: a file or folder is written under a temporary name beside its
destination and renamed over it only once complete, so a kill at any moment leaves the last
good one (or none), never half of one. The one place in adaptlab that renames into place."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adaptlab.errors import UserError


def _temporary(path: Path) -> Path:
    """Beside `path`, named for this process, so two processes writing the same output never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_leftover(path: Path) -> bool:
    """Whether `path` is a temporary output a killed process left behind."""
    return bool(re.fullmatch(r"\..+\.\d+\.tmp", Path(path).name))


def previous(out_dir: Path) -> Path:
    """Where `out_dir` waits while its replacement is renamed in: a kill between the two renames
    leaves the last good folder here (a reader may fall back to it)."""
    return out_dir.with_name(f".{out_dir.name}.old")


def replace_dir(tmp: Path, out_dir: Path) -> None:
    """Rename the finished folder `tmp` over `out_dir`; the old one goes only once the new one is in place."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = previous(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except OSError:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old)


def _fsync_files(folder: Path) -> None:
    for child in folder.rglob("*"):
        if child.is_file():
            with open(child, "rb") as f:
                os.fsync(f.fileno())


@contextmanager
def publish_dir(out_dir: Path, *, durable: bool = False) -> Iterator[Path]:
    """A fresh temporary folder to fill; when the block ends without an error it replaces `out_dir`,
    and on an error it is removed and `out_dir` stays as it was. `durable`: its files reach the disk
    before the rename (checkpoints, which must survive a power cut, not just a kill)."""
    out_dir = Path(out_dir)
    tmp = _temporary(out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()
    try:
        yield tmp
        if durable:
            _fsync_files(tmp)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def publish_file(path: Path) -> Iterator[Path]:
    """A temporary path to write; when the block ends without an error it replaces `path`."""
    path = Path(path)
    tmp = _temporary(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_file(path: Path, data: str | bytes) -> Path:
    """`path` holds `data` (text as UTF-8), replaced whole."""
    with publish_file(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def refuse_existing(path: Path, option: str = "--out") -> None:
    """An output that would overwrite something already there is refused before any work."""
    if Path(path).exists():
        raise UserError(f"{path}: already exists; choose another {option}")


def check_output(path: Path, *, folder: bool, what: str) -> None:
    """Refuse an output path that exists as the wrong kind (a file where a folder goes, or the
    reverse) before any work, rather than fail when writing and leave half an output behind."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; give a folder for {what} (new or existing)")
    if not folder and path.is_dir():
        raise UserError(f"{path}: is a folder; give a file path for {what}")


def check_replaceable(out_dir: Path, marker: str, what: str) -> None:
    """Refuse, before any work, an output folder whose replacement would lose anything but an earlier
    output of the same kind (one holding `marker`): a file, or a folder of a user's other files."""
    out_dir = Path(out_dir)
    check_output(out_dir, folder=True, what=f"the {what}")
    if not out_dir.exists() or (out_dir / marker).is_file():
        return
    if any(not is_leftover(child) for child in out_dir.iterdir()):
        raise UserError(f"{out_dir}: folder is not empty and holds no {what} ({marker}); choose a new or empty folder")
