"""The Redis ACL file scripts/redis_acl.py writes: default off, one user per component, hashes only, and none of
the forbidden commands granted (tests/integration/test_redis_acl.py runs it in a real redis-server)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from scripts import redis_acl
from scripts.redis_acl import FORBIDDEN, USERS, acl_file

PASSWORDS = {"api": "api-password-1", "worker": "worker-password-2", "flower": "flower-password-3"}


def rules_of(text: str) -> dict[str, list[str]]:
    return {line.split()[1]: line.split()[2:] for line in text.splitlines()}


def test_the_default_user_is_off_and_can_run_nothing() -> None:
    default = rules_of(acl_file(PASSWORDS))["default"]
    assert "off" in default and "-@all" in default and not any(r.startswith("+") for r in default)


def test_each_component_has_its_own_user_starting_from_no_commands() -> None:
    rules = rules_of(acl_file(PASSWORDS))
    assert set(rules) == {"default", *USERS.values()}
    for user in USERS.values():
        granted = rules[user]
        assert granted.index("-@all") < min(i for i, r in enumerate(granted) if r.startswith("+"))
        assert not any(r.startswith("+@") for r in granted), "a whole category is never granted"
        assert "~*" not in granted and "allkeys" not in granted and "&*" not in granted


@pytest.mark.parametrize("user", sorted(USERS.values()))
def test_no_user_is_granted_flushall_config_keys_debug_or_the_like(user: str) -> None:
    granted = {r[1:].lower() for r in rules_of(acl_file(PASSWORDS))[user] if r.startswith("+")}
    assert not granted & set(FORBIDDEN)
    assert not {g for g in granted if g.split("|")[0] in {"config", "acl", "debug", "module", "flushall"}}


def test_the_file_holds_password_hashes_never_the_passwords() -> None:
    text = acl_file(PASSWORDS)
    for component, password in PASSWORDS.items():
        assert password not in text
        assert f"#{hashlib.sha256(password.encode()).hexdigest()}" in rules_of(text)[USERS[component]]


def test_the_api_user_cannot_reach_the_workers_bookkeeping_and_flower_only_reads_the_lanes() -> None:
    rules = rules_of(acl_file(PASSWORDS, queue="jobs"))
    assert "~unacked" not in rules["predq-api"] and "~unacked" in rules["predq-worker"]
    assert "~jobs" in rules["predq-api"] and "~jobs.bulk" in rules["predq-api"]
    flower = rules["predq-flower"]
    assert "%R~jobs" in flower and "~jobs" not in flower and "~predq:*" not in flower
    assert not [r for r in rules["predq-api"] if r.startswith("&")], "the API uses no pub/sub channel"


def test_the_command_reads_dot_env_and_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in redis_acl.PASSWORD_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    env = tmp_path / ".env"
    env.write_text("# comment\nQUEUE_NAME=jobs\n" + "".join(
        f"{redis_acl.PASSWORD_VARIABLES[c]}={p}\n" for c, p in PASSWORDS.items()))
    out = tmp_path / "secrets" / "redis-users.acl"
    assert redis_acl.main(["--env-file", str(env), "--out", str(out)]) == 0
    assert out.read_text() == acl_file(PASSWORDS, queue="jobs")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and stat.S_IMODE(out.parent.stat().st_mode) == 0o700
    assert str(out) in capsys.readouterr().out


def test_the_command_refuses_to_write_without_every_password(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in redis_acl.PASSWORD_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / ".env").write_text("REDIS_API_PASSWORD=x\n")
    with pytest.raises(SystemExit, match="REDIS_WORKER_PASSWORD"):
        redis_acl.main(["--env-file", str(tmp_path / ".env"), "--out", str(tmp_path / "acl")])
