"""Configuration from flags and env, and secrets generated once and kept private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runtime.secrets import load_or_create_secrets
from settings.config import load_config
from web.access_log import scrub


def test_defaults_are_the_embedded_mode() -> None:
    config = load_config([], env={})
    assert (config.port, config.host, config.processes) == (8888, "127.0.0.1", 1)
    assert config.data_dir == Path("data")
    assert config.mongo_uri is None and config.redis_url is None


def test_env_then_flags_win() -> None:
    env = {
        "EDDY_PORT": "9000",
        "MONGODB_URI": "mongodb://db/x",
        "REDIS_URL": "redis://r",
        "EDDY_PROCESSES": "3",
    }
    config = load_config([], env=env)
    assert (config.port, config.mongo_uri, config.redis_url, config.processes) == (
        9000,
        "mongodb://db/x",
        "redis://r",
        3,
    )
    config = load_config(["--port", "9100", "--processes", "2", "--data-dir", "/tmp/x"], env=env)
    assert (config.port, config.processes, config.data_dir) == (9100, 2, Path("/tmp/x"))


def test_bad_process_count_is_refused() -> None:
    with pytest.raises(SystemExit):
        load_config(["--processes", "0"], env={})


@pytest.mark.reliability
def test_secrets_are_generated_once_with_0600(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path, env={})
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.jwt_key) >= 32 and first.jwt_key != first.hash_key
    assert load_or_create_secrets(tmp_path, env={}) == first
    other = load_or_create_secrets(tmp_path / "other", env={})
    assert other.jwt_key != first.jwt_key


@pytest.mark.reliability
def test_secrets_from_env_override_and_are_checked(tmp_path: Path) -> None:
    key = "A" * 43  # 32 bytes of url-safe base64
    secrets = load_or_create_secrets(tmp_path, env={"EDDY_JWT_SECRET": key})
    assert secrets.jwt_key == b"\x00" * 32
    with pytest.raises(SystemExit):
        load_or_create_secrets(tmp_path, env={"EDDY_JWT_SECRET": "short"})


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/ws/collect?k=pk_live_abc", "/ws/collect?k=[secret]"),
        ("/x?a=1&token=eyJhbGci.x.y&b=2", "/x?a=1&token=[secret]&b=2"),
        ("/cb?code=abc&state=xyz", "/cb?code=[secret]&state=[secret]"),
        ("/x?API_KEY=sk_1", "/x?API_KEY=[secret]"),
        ("/plain?page=2", "/plain?page=2"),
    ],
)
def test_access_log_scrubs_credentials(uri: str, expected: str) -> None:
    assert scrub(uri) == expected


def test_environment_settings_are_typed_fields() -> None:
    env = {
        "EDDY_QUERY_TIMEOUT_S": "12.5",
        "EDDY_MAX_CONNECTIONS": "40",
        "EDDY_REGISTRATION": "Invite",
        "EDDY_WEBHOOK_ALLOW": "10.0.0.0/8, 127.0.0.1",
        "EDDY_SMTP_URL": "smtps://u:p@mail.example",
        "EDDY_MAIL_FROM": "Eddy <eddy@example.com>",
        "EDDY_GOOGLE_TOKEN_URL": "http://127.0.0.1:9/token",
    }
    config = load_config([], env=env)
    assert (config.query_timeout_s, config.max_connections, config.registration) == (12.5, 40, "invite")
    assert [str(net) for net in config.webhook_allow] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert config.mail is not None and (config.mail.host, config.mail.port) == ("mail.example", 465)
    assert config.google_token_url == "http://127.0.0.1:9/token" and config.google_authorize_url is None
    defaults = load_config([], env={})
    assert (defaults.import_max_bytes, defaults.api_rate_limit, defaults.mail) == (1 << 30, 1200, None)
    assert defaults.registration is None and defaults.webhook_allow == ()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EDDY_QUERY_TIMEOUT_S", "soon", "EDDY_QUERY_TIMEOUT_S must be a number above 0, not 'soon'."),
        ("EDDY_MAIL_POLL_S", "0", "EDDY_MAIL_POLL_S must be a number above 0, not '0'."),
        ("EDDY_ALERT_INTERVAL_S", "inf", "EDDY_ALERT_INTERVAL_S must be a number above 0, not 'inf'."),
        (
            "EDDY_MAX_CONNECTIONS",
            "2.5",
            "EDDY_MAX_CONNECTIONS must be a whole number of at least 1, not '2.5'.",
        ),
        (
            "EDDY_IMPORT_MAX_BYTES",
            "-1",
            "EDDY_IMPORT_MAX_BYTES must be a whole number of at least 1, not '-1'.",
        ),
        ("EDDY_REGISTRATION", "everyone", "EDDY_REGISTRATION must be open, invite or closed"),
        ("EDDY_SMTP_URL", "http://mail", "EDDY_SMTP_URL must start with smtp:// or smtps://"),
    ],
)
def test_bad_environment_settings_stop_the_start_with_a_sentence(name: str, value: str, message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        load_config([], env={name: value})
    assert str(stopped.value) == message


def test_a_bad_webhook_network_names_its_variable() -> None:
    with pytest.raises(SystemExit) as stopped:
        load_config([], env={"EDDY_WEBHOOK_ALLOW": "10.0.0.0/8, not-a-network"})
    message = str(stopped.value)
    assert message.startswith("EDDY_WEBHOOK_ALLOW must be addresses or CIDR networks separated by commas (")
    assert "not-a-network" in message and message.endswith(".")
