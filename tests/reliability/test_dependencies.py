"""Dependencies are pinned, to releases at or above the secure minimums (RELIABILITY.md item 25).

Every requirement line is an exact `name==version` pin (a fresh clone installs what was tested), and the
security-relevant packages are at or above the minimums the design names: Tornado 6.5 (the 6.4.x and
earlier multipart/header parsing DoS fixes), PyJWT 2.12 and bcrypt 5.0. The installed versions must match
the pins. A vulnerability database check (pip-audit) needs the network, which this test does not assume.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==(?P<version>[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc|\.post|\.dev)[0-9]+)*)$"
)
MINIMUMS = {"tornado": (6, 5), "pyjwt": (2, 12), "bcrypt": (5, 0)}


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    files = sorted(ROOT.glob("requirements*.txt"))
    assert [path.name for path in files] == ["requirements-dev.txt", "requirements.txt"]
    for path in files:
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#") or line == "-r requirements.txt":
                continue
            match = PIN.match(line)
            assert match, f"{path.name}:{number}: not an exact pin: {raw!r}"
            name = match["name"].lower().replace("_", "-")
            assert name not in pins, f"{name} pinned twice"
            pins[name] = match["version"]
    return pins


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_every_requirement_is_pinned_at_or_above_the_secure_minimum() -> None:
    pins = _pins()
    for name, minimum in MINIMUMS.items():
        assert name in pins, f"{name} is not pinned"
        assert _release(pins[name]) >= minimum, f"{name}=={pins[name]} is below {minimum}"
        assert version(name) == pins[name], f"installed {name} {version(name)} is not the pinned {pins[name]}"
    # the pattern really refuses loose requirements
    for loose in (
        "tornado>=6.5",
        "tornado",
        "tornado==6.*",
        "tornado~=6.5",
        "tornado==6.5; python_version<'4'",
    ):
        assert not PIN.match(loose), loose
