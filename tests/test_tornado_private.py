"""web/tornado_private.py refuses to run on a Tornado release its internals were not checked with,
with a sentence saying what to do; on the pinned release it imports, and its helpers read what Tornado
holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tornado

from web import tornado_private
from web.tornado_private import UnsupportedTornado, check_version

ROOT = Path(__file__).resolve().parents[1]


def test_the_pinned_release_is_in_the_verified_range() -> None:
    check_version(tornado.version_info)
    pinned = next(
        line.split("==")[1].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("tornado==")
    )
    check_version(tuple(int(part) for part in pinned.split(".")))


@pytest.mark.parametrize("release", [(6, 5, 10, 0), (6, 7, 0, 0), (7, 0, 0, 0), (5, 1, 1, 0)])
def test_other_releases_are_refused_with_a_sentence(release: tuple[int, ...]) -> None:
    with pytest.raises(UnsupportedTornado) as raised:
        check_version(release)
    message = str(raised.value)
    assert ".".join(map(str, release[:3])) in message
    assert "requirements.txt" in message and message.endswith(".")


def test_importing_on_another_release_fails_before_anything_runs() -> None:
    # A fresh interpreter where Tornado reports a newer release: the import itself stops.
    code = "import tornado; tornado.version_info = (6, 7, 0, 0)\nimport web.tornado_private\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "UnsupportedTornado: Eddy relies on Tornado internals" in done.stderr
    assert "6.7.0 is installed" in done.stderr


def test_the_masking_fallback_matches_the_c_function(monkeypatch: pytest.MonkeyPatch) -> None:
    data, mask = bytes(range(256)) * 3, b"\x01\x80\xfe\x7f"
    fast = tornado_private.websocket_mask(mask, data)
    monkeypatch.setattr(tornado_private, "_c_mask", None)
    assert tornado_private.websocket_mask(mask, data) == fast
    assert tornado_private.websocket_mask(mask, fast) == data
    assert tornado_private.websocket_mask(mask, b"") == b""
