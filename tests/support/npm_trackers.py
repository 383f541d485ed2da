"""Other analytics' official trackers, fetched from the npm registry by the test setup (never committed),
pinned by version and by the registry's sha512 integrity of the package, and used unmodified.

`tracker_file("plausible")` returns the path of the file, fetched once with `npm pack` into
tests/browser/.trackers/ (git-ignored) and reused; without npm or the registry the caller skips.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / "browser" / ".trackers"


@dataclass(frozen=True)
class Pin:
    """One package version and the file of it the tests load."""

    package: str
    version: str
    member: str
    integrity: str  # the registry's dist.integrity of the package tarball


PINS = {
    "plausible": Pin(
        "@plausible-analytics/tracker",
        "0.4.6",
        "package/plausible.js",
        "sha512-nbu6xGgSP6jeYuoVklZBzucUnIpo75tVu3Kr+R0EDycVKaMC/jF5Q/YCaM/8gR4fPZ1IDcXt6FdBJFZ1uZwEPA==",
    ),
    "umami": Pin(
        "umami",
        "2.10.0",
        "package/src/tracker/index.js",
        "sha512-+lmrnV0751R6U2rkIgVAlE1nWI7yZawlMlJDguW9tlFacCKhnGeCyc7tCMIhNNYIiGIQy4DEX5IzJhm4b3+dPA==",
    ),
}


class TrackerUnavailable(Exception):
    """The tracker could not be fetched (no npm, no registry): the tests that need it are skipped."""


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def tracker_file(name: str) -> Path:
    """The pinned tracker's file on disk (fetched and checked on first use)."""
    pin = PINS[name]
    target = CACHE / f"{name}-{pin.version}.js"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    # Test processes running side by side (pytest -n) fetch one at a time: the others wait, then reuse.
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        return _fetch(pin, target)


def _fetch(pin: Pin, target: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise TrackerUnavailable("npm is not installed: the official trackers come from the npm registry")
    spec = f"{pin.package}@{pin.version}"
    done = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(CACHE), "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise TrackerUnavailable(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
    tarball = CACHE / done.stdout.strip().splitlines()[-1]
    try:
        if _integrity(tarball) != pin.integrity:
            raise AssertionError(f"{spec} from the registry does not match its pinned integrity")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(pin.member)
            assert member is not None, f"{pin.member} missing from {spec}"
            partial = target.with_suffix(".part")
            partial.write_bytes(member.read())
            partial.replace(target)
    finally:
        tarball.unlink(missing_ok=True)
    return target
