"""Write the demo models into MODEL_DIR, trained with fixed seeds on data scikit-learn ships or makes.

    python -m scripts.make_models [--force]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scripts.churn import CHURN_SCHEMA, churn_model
from shared.registry import DESCRIPTOR_FILE, write_model
from shared.schema import Schema
from shared.settings import Settings

SEED = 0
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _iris(version: int) -> tuple[Any, list[str], bool]:
    data = load_iris()
    labels = data.target_names[data.target]  # class names, as clients should see them
    C = 1.0 if version == 1 else 0.5
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000, random_state=SEED))
    return model.fit(data.data, labels), IRIS_FEATURES, False


def _diabetes() -> tuple[Any, list[str], bool]:
    data = load_diabetes()
    return Ridge(alpha=1.0).fit(data.data, data.target), list(data.feature_names), False


def _breast_cancer() -> tuple[Any, list[str], bool]:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    model = HistGradientBoostingClassifier(max_iter=100, random_state=SEED)
    return model.fit(data.data, data.target), names, True


def _bench_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    return X, y, [f"f{i}" for i in range(20)]


def _bench_logreg() -> tuple[Any, list[str], bool]:
    X, y, names = _bench_data()
    return LogisticRegression(max_iter=1000, random_state=SEED).fit(X, y), names, False


def _bench_forest() -> tuple[Any, list[str], bool]:
    X, y, names = _bench_data()
    forest = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=SEED, n_jobs=1)
    return forest.fit(X, y), names, False


def _churn(bench: bool) -> tuple[Any, list[str], bool, Schema]:
    return churn_model(bench, SEED), [c.name for c in CHURN_SCHEMA], True, CHURN_SCHEMA


Build = Callable[[], "tuple[Any, list[str], bool] | tuple[Any, list[str], bool, Schema]"]

DEMO_MODELS: list[tuple[str, int, Build]] = [
    ("iris", 1, lambda: _iris(1)),
    ("iris", 2, lambda: _iris(2)),
    ("diabetes", 1, _diabetes),
    ("breast-cancer", 1, _breast_cancer),
    ("bench-logreg", 1, _bench_logreg),
    ("bench-forest", 1, _bench_forest),
    ("churn", 1, lambda: _churn(False)),
    ("bench-churn", 1, lambda: _churn(True)),
]


def write_demo_models(model_dir: str | Path, force: bool = False, log: Callable[[str], None] = print) -> None:
    """Train and save every demo model that is not there yet (all of them with `force`)."""
    for name, version, build in DEMO_MODELS:
        if not force and (Path(model_dir) / name / str(version) / DESCRIPTOR_FILE).is_file():
            continue
        built = build()
        schema = built[3] if len(built) == 4 else None
        entry = write_model(model_dir, name, version, *built[:3], schema=schema)
        log(f"wrote {name} v{version} ({entry.task}, {entry.n_features} features) sha256 {entry.sha256[:12]}…")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="retrain models that already exist")
    parser.add_argument("--model-dir", default=None, help="default: MODEL_DIR")
    args = parser.parse_args(argv)
    write_demo_models(args.model_dir or Settings.from_env().model_dir, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
