"""Server secrets: generated on first run and kept in `<data_dir>/secrets.json` (mode 0600), or taken
from the environment (needed when several hosts must share them). Never hard-coded."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

SECRETS_FILE = "secrets.json"
# name in the file -> environment variable that overrides it
_NAMES = {
    "jwt_key": "EDDY_JWT_SECRET",
    "hash_key": "EDDY_HASH_SECRET",
    "password_pepper": "EDDY_PASSWORD_PEPPER",
}
MIN_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class Secrets:
    """`jwt_key` signs tokens (HS256); `hash_key` keys lookup hashes of API keys and share links;
    `password_pepper` pre-hashes long passwords before bcrypt."""

    jwt_key: bytes
    hash_key: bytes
    password_pepper: bytes


def _decode(value: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as error:
        raise SystemExit(f"{_NAMES[name]} must be url-safe base64") from error
    if len(raw) < MIN_BYTES:
        raise SystemExit(f"{_NAMES[name]} must hold at least {MIN_BYTES} random bytes")
    return raw


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def load_or_create_secrets(data_dir: Path, env: Mapping[str, str] | None = None) -> Secrets:
    """Read secrets from env, else from the data dir, creating any that are missing (0600, atomically)."""
    env = os.environ if env is None else env
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRETS_FILE
    stored: dict[str, str] = orjson.loads(path.read_bytes()) if path.exists() else {}
    changed = False
    for name in _NAMES:
        if name not in stored:
            stored[name] = _encode(secrets.token_bytes(MIN_BYTES))
            changed = True
    if changed:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    values = {name: _decode(env.get(var) or stored[name], name) for name, var in _NAMES.items()}
    return Secrets(**values)
