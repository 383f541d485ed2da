"""The built tracker (tracker/dist/eddy.min.js) as Eddy serves it at `/t.js`: its bytes and a version
(a content hash) that snippets put in the script URL, so browsers may cache a versioned URL for a year."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

TRACKER_DIR = Path(__file__).resolve().parent
BUILT = TRACKER_DIR / "dist" / "eddy.min.js"
SOURCE = TRACKER_DIR / "src" / "eddy.js"
VERSION_LENGTH = 12


@dataclass(frozen=True)
class Bundle:
    """One build of the tracker."""

    body: bytes
    version: str

    @property
    def etag(self) -> str:
        """The strong ETag of this build."""
        return f'"{self.version}"'

    @property
    def integrity(self) -> str:
        """The Subresource Integrity value of this build (`sha384-<base64>`), for `<script integrity>`."""
        return "sha384-" + base64.b64encode(hashlib.sha384(self.body).digest()).decode()


def version_of(body: bytes) -> str:
    """The version of a build: the first hex digits of its SHA-256."""
    return hashlib.sha256(body).hexdigest()[:VERSION_LENGTH]


@functools.cache
def load_bundle(path: Path = BUILT) -> Bundle:
    """Read the build (once per process: it changes only with a new release)."""
    body = path.read_bytes()
    return Bundle(body, version_of(body))


async def current_bundle() -> Bundle:
    """The served build, read off the IOLoop the first time."""
    if load_bundle.cache_info().currsize:
        return load_bundle()
    return await asyncio.get_running_loop().run_in_executor(None, load_bundle)
