"""The `churn` demo model: a pandas pipeline over typed columns, as teams build them.

Synthetic customers with a fixed seed: `plan` and `region` (strings, region sometimes missing),
`tenure_months` (integer), `monthly_fee` (number), `autopay` (boolean); labels "churn" / "stay".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shared.schema import Column, Schema

CHURN_SCHEMA: Schema = (
    Column("plan", "string", False),
    Column("region", "string", True),
    Column("tenure_months", "integer", False),
    Column("monthly_fee", "number", False),
    Column("autopay", "boolean", False),
)
PLANS = ("basic", "plus", "pro")
REGIONS = ("north", "south", "east", "west")
CHURN_ROWS = 20_000


def churn_frame(n: int = CHURN_ROWS, seed: int = 0) -> pd.DataFrame:
    """`n` synthetic customers (region missing for about one in twenty)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(REGIONS, dtype=object), n)
    region[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "plan": rng.choice(np.array(PLANS, dtype=object), n, p=[0.5, 0.3, 0.2]),
        "region": region,
        "tenure_months": rng.integers(0, 72, n).astype(np.int64),
        "monthly_fee": np.round(rng.gamma(4.0, 12.0, n), 2),
        "autopay": rng.random(n) < 0.6,
    })


def churn_labels(frame: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """Who leaves: short tenure, high fees, no autopay and the basic plan raise the odds."""
    rng = np.random.default_rng(seed + 1)
    logit = (1.0 - frame["tenure_months"] / 24 + frame["monthly_fee"] / 60 - 1.2 * frame["autopay"]
             + 0.8 * (frame["plan"] == "basic") + 0.3 * (frame["region"] == "south") + rng.normal(0, 0.5, len(frame)))
    return np.where(logit > 0, "churn", "stay")


def churn_pipeline(classifier: Any) -> Pipeline:
    strings = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="unknown")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore"))])
    columns = ColumnTransformer([
        ("strings", strings, ["plan", "region"]),
        ("numbers", StandardScaler(), ["tenure_months", "monthly_fee"]),
        ("booleans", "passthrough", ["autopay"]),
    ])
    return Pipeline([("columns", columns), ("classifier", classifier)])


def churn_model(bench: bool = False, seed: int = 0) -> Pipeline:
    """`churn` v1 (a logistic regression), or `bench-churn` (a 100-tree forest) with `bench`."""
    frame = churn_frame(seed=seed)
    classifier: Any = (RandomForestClassifier(n_estimators=100, max_depth=12, random_state=seed, n_jobs=1)
                       if bench else LogisticRegression(max_iter=1000, random_state=seed))
    return churn_pipeline(classifier).fit(frame, churn_labels(frame, seed))
