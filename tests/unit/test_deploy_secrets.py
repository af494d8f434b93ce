"""`make up`'s secrets (scripts/deploy_secrets.py): a new .env with random passwords, an api_keys file with one
random key when none exists (printed as a path, never as the key), and the Redis ACL file from .env."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from scripts import deploy_secrets, redis_acl
from shared.settings import REPO_ROOT, Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_env_gets_random_passwords_mode_600_and_is_never_overwritten(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    deploy_secrets.main(["--new-env", str(env)])
    values = redis_acl.read_env_file(env)
    for variable in (*redis_acl.PASSWORD_VARIABLES.values(), "CALLBACK_SECRET", "FLOWER_BASIC_AUTH"):
        assert len(values[variable]) >= 24, variable
    assert values["REDIS_API_PASSWORD"] != values["REDIS_WORKER_PASSWORD"]
    assert mode(env) == 0o600
    with pytest.raises(FileExistsError):
        deploy_secrets.main(["--new-env", str(env)])


def test_make_up_s_secrets_create_one_api_key_once_and_print_only_where_it_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in redis_acl.PASSWORD_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    env = tmp_path / ".env"
    deploy_secrets.main(["--new-env", str(env)])
    folder = tmp_path / "secrets"
    assert deploy_secrets.main(["--env-file", str(env), "--dir", str(folder)]) == 0
    keys = folder / "api_keys"
    (key,) = keys.read_text().split()
    printed = capsys.readouterr().out
    assert str(keys) in printed and key not in printed
    assert mode(folder) == 0o700 and mode(keys) == 0o644 and mode(folder / "redis-users.acl") == 0o644
    assert Settings.from_env({"API_KEYS_FILE": str(keys)}).api_key_set() == frozenset({key})

    keys.write_text(key + "\nsecond-key\n")  # the operator's edits survive the next `make up`
    deploy_secrets.main(["--env-file", str(env), "--dir", str(folder)])
    assert keys.read_text() == key + "\nsecond-key\n"


def test_the_secrets_folder_defaults_to_predq_secrets_dir_from_the_env_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in redis_acl.PASSWORD_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    env = tmp_path / ".env"
    deploy_secrets.main(["--new-env", str(env)])
    elsewhere = tmp_path / "elsewhere"
    env.write_text(env.read_text().replace("PREDQ_SECRETS_DIR=./secrets", f"PREDQ_SECRETS_DIR={elsewhere}"))
    deploy_secrets.main(["--env-file", str(env)])
    assert (elsewhere / "api_keys").is_file()


def test_the_module_needs_only_the_standard_library() -> None:
    """`make up` runs it with the system Python, before any virtualenv exists."""
    import ast

    for name in ("deploy_secrets", "redis_acl"):
        tree = ast.parse((REPO_ROOT / "scripts" / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert imported <= {"__future__", "argparse", "hashlib", "os", "secrets", "sys", "collections", "pathlib",
                            "scripts"}, name
