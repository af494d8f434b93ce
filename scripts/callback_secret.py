"""Print the callback signing secret of one API key (operators only: it is shown nowhere else).

    python -m scripts.callback_secret            # reads the API key from stdin (kept out of shell history)

With no API_KEYS configured, callbacks are signed with CALLBACK_SECRET itself (the contract's one tenant).

Reads CALLBACK_SECRET from the environment (as the service does). The receiver of that key's callbacks
checks `Predq-Signature` with it: `predq_client.verify_signature(body, header, secret)`.
"""

from __future__ import annotations

import argparse
import sys

from api.auth import owner_of
from shared.callbacks import MIN_SECRET_LENGTH, key_secret
from shared.settings import Settings


def main(argv: list[str] | None = None, stdin: str | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    settings = Settings.from_env()
    if len(settings.callback_secret) < MIN_SECRET_LENGTH:
        print(f"CALLBACK_SECRET is not set (or under {MIN_SECRET_LENGTH} characters)", file=sys.stderr)
        return 2
    key = (stdin if stdin is not None else sys.stdin.read()).strip()
    if not key:
        print("give the API key on stdin", file=sys.stderr)
        return 2
    print(key_secret(settings.callback_secret, owner_of(key)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
