"""predq-models: register, list and verify the models in MODEL_DIR (the folder the API and workers read).

    predq-models register FILE --name NAME [--sample DATA] [--nullable COL,…] [--format skops|joblib]
                          [--allow-version-mismatch]
    predq-models list
    predq-models verify

(`python -m scripts.predq_models …`, or bin/predq-models.) A registered version is served at once: the API
and the workers rescan MODEL_DIR, no restart needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared import model_files
from shared.artifacts import FORMATS
from shared.errors import ModelLoadError
from shared.registration import (
    RegistrationError,
    check_scores,
    infer_model_schema,
    load_for_registration,
    read_sample,
    register,
)
from shared.registry import ModelEntry, ModelRegistry
from shared.settings import Settings


def _register(args: argparse.Namespace, model_dir: Path) -> int:
    estimator = load_for_registration(Path(args.file), args.allow_version_mismatch)
    sample = read_sample(Path(args.sample)) if args.sample else None
    nullable = [c.strip() for c in (args.nullable or "").split(",") if c.strip()]
    schema = infer_model_schema(estimator, sample, nullable)
    if sample is not None:
        check_scores(estimator, sample, schema)
    entry = register(model_dir, args.name, estimator, schema, args.format)
    print(f"registered {entry.name} v{entry.version} ({entry.task}, {args.format}) sha256 {entry.sha256}")
    print(_describe(entry))
    return 0


def _describe(entry: ModelEntry) -> str:
    columns = ", ".join(f"{c.name}:{c.type}{'?' if c.nullable else ''}" for c in entry.schema)
    stored = entry.path.suffix[1:]
    return f"{entry.name:<16} v{entry.version:<4} {entry.task:<15} {stored:<7} {entry.sha256[:12]}  {columns}"


def _list(model_dir: Path) -> int:
    registry = ModelRegistry(model_dir, "")
    for name in registry.names():
        for entry in registry.versions(name):
            print(_describe(entry))
    return 0


def _verify(model_dir: Path) -> int:
    """Every version's file against its descriptor's SHA-256, read as a worker reads it (only from inside
    MODEL_DIR); exit 1 when any differs, is missing or is refused."""
    registry = ModelRegistry(model_dir, "")
    bad = 0
    for name in registry.names():
        for entry in registry.versions(name):
            try:
                model_files.read_verified(entry.model_dir, entry.folder, entry.file, entry.sha256, entry.label)
                problem = ""
            except ModelLoadError as refused:
                problem = f" ({refused.detail})"
            bad += bool(problem)
            print(f"{'BAD' if problem else 'ok '} {entry.name} v{entry.version} {Path(entry.file).name}{problem}")
    return 1 if bad else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="predq-models", description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=None, help="default: MODEL_DIR")
    commands = p.add_subparsers(dest="command", required=True)
    reg = commands.add_parser("register", help="write a fitted estimator as the next version of a model")
    reg.add_argument("file", help="a joblib or skops file holding a fitted estimator")
    reg.add_argument("--name", required=True)
    reg.add_argument("--sample", help="CSV or Parquet rows of the model's input: column types come from it")
    reg.add_argument("--nullable", help="comma-separated columns that may be missing (besides the sample's)")
    reg.add_argument("--format", choices=FORMATS, default="skops", help="how the version is stored")
    reg.add_argument("--allow-version-mismatch", action="store_true",
                     help="register a file saved with another scikit-learn version")
    commands.add_parser("list", help="every version of every model")
    commands.add_parser("verify", help="check every model file against its descriptor's SHA-256")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    model_dir = Path(args.model_dir or Settings.from_env().model_dir)
    try:
        if args.command == "register":
            return _register(args, model_dir)
        return _list(model_dir) if args.command == "list" else _verify(model_dir)
    except (RegistrationError, ModelLoadError, OSError) as exc:
        print(f"predq-models: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
