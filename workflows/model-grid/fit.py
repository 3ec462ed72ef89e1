# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fit one model of the grid
#
# Run once per item of the grid: `model` and `depth` come from `${{ item.model }}` and
# `${{ item.depth }}`. Its metrics go to `data/metrics/<model>-<depth>.json` and are
# recorded for the summary.

# %% tags=["parameters"]
model = "tree"
depth = 3
seed = 0

# %%
import json
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.tree import DecisionTreeClassifier

import nbflow

# %%
split = np.load("data/split.npz")
builders = {
    "tree": lambda: DecisionTreeClassifier(max_depth=depth, random_state=seed),
    "forest": lambda: RandomForestClassifier(n_estimators=25, max_depth=depth, random_state=seed),
}
if model not in builders:
    raise ValueError(f"unknown model {model!r}; the grid's models are {sorted(builders)}")
classifier = builders[model]().fit(split["x_train"], split["y_train"])
predicted = classifier.predict(split["x_test"])

# %%
accuracy = round(float(accuracy_score(split["y_test"], predicted)), 4)
f1 = round(float(f1_score(split["y_test"], predicted, average="macro")), 4)
print(f"{model}, depth {depth}: accuracy {accuracy:.3f}, macro F1 {f1:.3f}")
print(confusion_matrix(split["y_test"], predicted))

# %%
metrics = {"model": model, "depth": depth, "accuracy": accuracy, "f1": f1}
Path("data/metrics").mkdir(parents=True, exist_ok=True)
Path(f"data/metrics/{model}-{depth}.json").write_text(json.dumps(metrics, indent=2) + "\n")
nbflow.record("model", model)
nbflow.record("depth", depth)
nbflow.record("accuracy", accuracy)
nbflow.record("f1", f1)
