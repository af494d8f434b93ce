"""Save a joblib-dumped scikit-learn estimator as an MLflow model directory (mlflow.sklearn.save_model).

Run with MLflow's own virtualenv (.venv-mlflow), not predq's:

    .venv-mlflow/bin/python scripts/mlflow_model.py ESTIMATOR.joblib OUT_DIR
"""

from __future__ import annotations

import sys

import joblib
import mlflow.sklearn


def main(argv: list[str]) -> int:
    source, target = argv
    # cloudpickle, not MLflow's default skops: skops refuses a forest's trees unless told to trust them, and
    # the format only changes how the server loads the model, not how fast it scores.
    mlflow.sklearn.save_model(joblib.load(source), target, serialization_format="cloudpickle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
