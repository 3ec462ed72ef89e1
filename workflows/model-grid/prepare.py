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
# # Prepare the data
#
# scikit-learn's bundled wine data (178 wines, 13 measurements, 3 cultivars: shipped
# with the package, nothing is downloaded), split into a training and a test set that
# every item of the grid shares.

# %% tags=["parameters"]
test_size = 0.3
seed = 0

# %%
from pathlib import Path

import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

import nbflow

# %%
data = load_wine()
x_train, x_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=test_size, random_state=seed, stratify=data.target
)
Path("data").mkdir(exist_ok=True)
np.savez("data/split.npz", x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)
print(f"{len(y_train)} rows to train on, {len(y_test)} to test on, {x_train.shape[1]} features")

# %%
nbflow.record("train_rows", len(y_train))
nbflow.record("test_rows", len(y_test))
