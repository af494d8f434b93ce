"""The files the compose stack hands its containers as Docker secrets (`make up` runs this before starting it).

    python -m scripts.deploy_secrets [--env-file .env] [--dir secrets]
    python -m scripts.deploy_secrets --new-env .env      # .env from .env.example, with random secrets

`--dir` defaults to PREDQ_SECRETS_DIR in the env file, else `secrets`.

* `<dir>/api_keys`: the API keys, one a line (API_KEYS_FILE in the API and worker containers). Created with one
  random key when it does not exist; an existing file is never touched, so add or rotate keys by editing it.
* `<dir>/redis-users.acl`: Redis's ACL users (scripts/redis_acl.py), rewritten from the passwords in .env each time.

Compose bind-mounts file secrets with the host file's owner and mode (it cannot remap them), and the containers run
as other users (predq as uid 10001, Redis as 999): so the folder is 0700, which keeps every other host user out,
and the files in it are 0644, readable inside the containers. Only the standard library: `make up` runs it with the
system Python.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts import redis_acl

API_KEYS = "api_keys"
REDIS_ACL = "redis-users.acl"
FILE_MODE = 0o644
"""Readable by the container's own user; the 0700 folder keeps the host's other users out."""

RANDOM_SECRETS = {
    "REDIS_API_PASSWORD": lambda: secrets.token_hex(24),
    "REDIS_WORKER_PASSWORD": lambda: secrets.token_hex(24),
    "REDIS_FLOWER_PASSWORD": lambda: secrets.token_hex(24),
    "FLOWER_BASIC_AUTH": lambda: "predq:" + secrets.token_hex(12),
    "GRAFANA_ADMIN_PASSWORD": lambda: secrets.token_hex(12),
    "CALLBACK_SECRET": lambda: secrets.token_hex(32),
}
"""What a new .env gets in place of .env.example's empty values."""


def new_env(example: Path, target: Path) -> None:
    """`target` from `example`, each empty RANDOM_SECRETS line filled; never overwrites, mode 0600 from the start."""
    lines = [f"{line}{RANDOM_SECRETS[line[:-1]]()}" if line.endswith("=") and line[:-1] in RANDOM_SECRETS else line
             for line in example.read_text().splitlines()]
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {target} (from {example.name}, with random Redis passwords, FLOWER_BASIC_AUTH, "
          "GRAFANA_ADMIN_PASSWORD and CALLBACK_SECRET)")


def ensure_api_keys(folder: Path) -> bool:
    """Create `folder/api_keys` with one random key unless it exists; True when it was created."""
    path = folder / API_KEYS
    if path.exists():
        return False
    redis_acl.write_private(path, secrets.token_urlsafe(32) + "\n", FILE_MODE)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the compose stack's secret files.")
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--dir", type=Path, help="default: PREDQ_SECRETS_DIR in the env file, else secrets")
    parser.add_argument("--new-env", type=Path, help="write this .env from .env.example, then stop")
    args = parser.parse_args(argv)
    if args.new_env:
        new_env(Path(__file__).resolve().parent.parent / ".env.example", args.new_env)
        return 0
    args.dir = args.dir or Path(redis_acl.read_env_file(args.env_file).get("PREDQ_SECRETS_DIR") or "secrets")
    args.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(args.dir, 0o700)
    if ensure_api_keys(args.dir):
        print(f"created {args.dir / API_KEYS} with one random API key (clients send it as Authorization: Bearer "
              "<key>; one key a line, read when the API starts)")
    else:
        print(f"API keys: {args.dir / API_KEYS}")
    redis_acl.main(["--env-file", str(args.env_file), "--out", str(args.dir / REDIS_ACL)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
