"""Registration control (EDDY_REGISTRATION=open|invite|closed, the first account as instance admin, the
admin's settings) and the `python run.py admin` command line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import PASSWORD, register, unique_email
from tests.support.api import Api

ROOT = Path(__file__).resolve().parent.parent


def _mode(mode: str | None) -> dict[str, Any]:
    return {"registration": mode}


async def _try_register(api: Api, email: str | None = None) -> Any:
    return await api.post(
        "/api/v1/auth/register", json={"email": email or unique_email(), "password": PASSWORD}
    )


class TestDefault:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return _mode(None)  # unset: the default

    async def test_first_account_is_admin_then_invitation_required(self, api: Api) -> None:
        first = await register(api)
        assert first["user"]["instance_admin"] is True
        second = await _try_register(api)
        assert second.status == 403 and second.error_code == "invitation_required"
        assert "invitation" in second.json["error"]["message"]
        instance = await api.get("/api/v1/instance")
        assert instance.json == {"registration": "invite", "mail": False, "google_sign_in": False}

    async def test_racing_first_sign_ups_make_one_admin(self, api: Api) -> None:
        answers = await asyncio.gather(*(_try_register(api) for _ in range(5)))
        assert sorted(a.status for a in answers) == [201, 403, 403, 403, 403]

    async def test_admin_opens_registration_and_others_cannot(self, api: Api) -> None:
        admin = await register(api)
        opened = await api.patch(
            "/api/v1/admin/settings", json={"registration": "open"}, token=admin["access_token"]
        )
        assert opened.json == {"registration": "open", "set_by_environment": False}
        other = await register(api)
        assert other["user"]["instance_admin"] is False
        for method, body in (("GET", None), ("PATCH", {"registration": "closed"})):
            refused = await api.request(
                method, "/api/v1/admin/settings", json=body, token=other["access_token"]
            )
            assert refused.status == 403 and refused.error_code == "not_instance_admin"
        users = await api.get("/api/v1/admin/users", token=admin["access_token"])
        assert [u["email"] for u in users.json["users"]] == [admin["user"]["email"], other["user"]["email"]]
        assert (await api.get("/api/v1/admin/users", token=other["access_token"])).status == 403
        bad = await api.patch(
            "/api/v1/admin/settings", json={"registration": "public"}, token=admin["access_token"]
        )
        assert bad.status == 422


class TestClosed:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return _mode("closed")

    async def test_even_the_first_sign_up_is_refused(self, api: Api) -> None:
        answer = await _try_register(api)
        assert answer.status == 403 and answer.error_code == "registration_closed"
        assert (await api.get("/api/v1/instance")).json["registration"] == "closed"


class TestOpen:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return _mode("open")

    async def test_anyone_registers_and_the_environment_wins(self, api: Api) -> None:
        admin = await register(api)
        other = await register(api)
        assert admin["user"]["instance_admin"] and not other["user"]["instance_admin"]
        locked = await api.patch(
            "/api/v1/admin/settings", json={"registration": "closed"}, token=admin["access_token"]
        )
        assert locked.status == 409 and locked.error_code == "set_by_environment"


def _admin(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", "admin", "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


class TestCommandLine:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return _mode("closed")

    async def test_create_list_and_reset_without_the_web(self, api: Api, data_dir: Path) -> None:
        email = unique_email("cli")
        created = _admin(data_dir, "create-user", "--email", email.upper(), "--admin", stdin=PASSWORD + "\n")
        assert created.returncode == 0 and "instance admin" in created.stdout, created.stderr
        login = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status == 200 and login.json["user"]["instance_admin"] is True
        assert login.json["user"]["email_verified"] is True
        again = _admin(data_dir, "create-user", "--email", email, stdin=PASSWORD + "\n")
        assert again.returncode == 1 and "exists already" in again.stdout
        listed = _admin(data_dir, "list-users")
        assert listed.stdout.startswith(email + "\t") and "admin,verified" in listed.stdout
        short = _admin(data_dir, "reset-password", "--email", email, stdin="short\n")
        assert short.returncode != 0 and "8 to" in short.stderr
        reset = _admin(data_dir, "reset-password", "--email", email, stdin="a brand new password\n")
        assert reset.returncode == 0, reset.stderr
        assert (
            await api.post("/api/v1/auth/refresh", json={"refresh_token": login.json["refresh_token"]})
        ).status == 401
        old = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert old.status == 401
        new = await api.post("/api/v1/auth/login", json={"email": email, "password": "a brand new password"})
        assert new.status == 200
        missing = _admin(data_dir, "reset-password", "--email", "nobody@example.com", stdin="whatever123\n")
        assert missing.returncode == 1 and "No account" in missing.stdout
