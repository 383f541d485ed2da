"""Build webui/vendor/world-map.js, the dashboard's small world map, from the npm package @svg-maps/world.

    .venv/bin/python scripts/build_world_map.py [--tarball svg-maps-world-2.0.0.tgz]

The package's map (CC BY 4.0, by Victor Cazanave, based on MapSVG) is 1.2 MB of outlines with three
decimals; a dashboard map of countries shaded by visitors needs far less. Each outline is simplified
(Douglas-Peucker at SIMPLIFY units of its 1010x666 view box), written with whole-unit relative steps,
and islands under MIN_AREA square units are left out (a country keeps its largest part at least; one too
small to draw becomes a dot). The
output is an ES module `{viewBox, countries: {ISO code: path}}` served with the dashboard (no network at
run time). Without `--tarball` the pinned package is fetched with `npm pack` (and its integrity checked).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "webui" / "vendor" / "world-map.js"
PACKAGE = "@svg-maps/world@2.0.0"
INTEGRITY = "sha512-VmYYnyygJ5Zhr48xPqukFBoq4aCBgVNIjBzqBnWKXSdHhrRK3pntdvbCa8lMsxwVCFzEw9a+smIMEGI2sC1xcQ=="
SIMPLIFY = 0.6
MIN_AREA = 4.0
DOT = 1.0  # half the side of the square drawn for a country too small to draw
Point = tuple[float, float]


def _fetch(workdir: Path) -> Path:
    done = subprocess.run(
        ["npm", "pack", PACKAGE, "--pack-destination", str(workdir), "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return workdir / done.stdout.strip().splitlines()[-1]


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _rings(path: str) -> list[list[Point]]:
    """The closed rings of a path made of relative `m` (with implicit relative line-tos) and `z`."""
    rings: list[list[Point]] = []
    x = y = 0.0
    for part in re.findall(r"m[^mz]*z?", path.replace("\n", " ")):
        numbers = [float(n) for n in re.findall(r"-?\d*\.?\d+(?:e[-+]?\d+)?", part)]
        ring: list[Point] = []
        for i in range(0, len(numbers) - 1, 2):
            x, y = x + numbers[i], y + numbers[i + 1]
            ring.append((x, y))
        if ring:
            rings.append(ring)
            x, y = ring[0]  # after z, the current point is the ring's start
    return rings


def _area(ring: list[Point]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


def _simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker, iterative."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        dx, dy = bx - ax, by - ay
        norm = (dx * dx + dy * dy) ** 0.5
        worst, at = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if norm:
                dist = abs(dy * (px - ax) - dx * (py - ay)) / norm
            else:
                dist = ((px - ax) ** 2 + (py - ay) ** 2) ** 0.5
            if dist > worst:
                worst, at = dist, i
        if worst > tolerance and at > 0:
            keep[at] = True
            stack += [(first, at), (at, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _path(rings: list[list[Point]]) -> str:
    """Rings as a compact path of whole-unit relative steps."""
    out = []
    cx = cy = 0
    for ring in rings:
        steps = []
        for px, py in ring:
            rx, ry = round(px), round(py)
            steps.append((rx - cx, ry - cy))
            cx, cy = rx, ry
        moves = [steps[0]] + [s for s in steps[1:] if s != (0, 0)]
        out.append("m" + " ".join(f"{dx},{dy}" for dx, dy in moves) + "z")
        cx, cy = round(ring[0][0]), round(ring[0][1])
    return "".join(out)


def build(tarball: Path) -> str:
    """The module's text from the package tarball."""
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/index.js")
        assert member is not None
        text = member.read().decode()
    data = json.loads(text[text.index("{") : text.rindex("}") + 1])
    countries = {}
    for location in data["locations"]:
        original = _rings(location["path"])
        rings = [_simplify(ring + ring[:1], SIMPLIFY)[:-1] for ring in original]
        rings = [ring for ring in rings if len(ring) >= 3 and _area([(round(x), round(y)) for x, y in ring])]
        if not rings:  # too small to draw at this scale: a dot where it is, so it still shows
            biggest = max(original, key=_area)
            x = sum(p[0] for p in biggest) / len(biggest)
            y = sum(p[1] for p in biggest) / len(biggest)
            rings = [[(x - DOT, y - DOT), (x + DOT, y - DOT), (x + DOT, y + DOT), (x - DOT, y + DOT)]]
        largest = max(rings, key=_area)
        kept = [ring for ring in rings if ring is largest or _area(ring) >= MIN_AREA]
        countries[location["id"].upper()] = _path(kept)
    body = json.dumps({"viewBox": data["viewBox"], "countries": countries}, separators=(",", ":"))
    return (
        "// World map of countries (ISO 3166-1 alpha-2 codes) for the dashboard, simplified by\n"
        "// scripts/build_world_map.py from @svg-maps/world 2.0.0 by Victor Cazanave (CC BY 4.0,\n"
        "// https://creativecommons.org/licenses/by/4.0/), based on MapSVG. Do not edit by hand.\n"
        f"export default {body};\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        tarball = args.tarball or _fetch(Path(workdir))
        if _integrity(tarball) != INTEGRITY:
            raise SystemExit(f"{tarball} does not match the pinned integrity of {PACKAGE}")
        OUT.write_text(build(tarball))
    print(f"{OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
