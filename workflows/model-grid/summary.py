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
# # Compare the grid
#
# Each list holds one value per item of the `fit` grid, in grid order.

# %% tags=["parameters"]
models = []
grid_depths = []
accuracies = []
f1_scores = []

# %%
import nbflow

# %%
rows = sorted(
    zip(models, grid_depths, accuracies, f1_scores, strict=True),
    key=lambda row: (-row[2], -row[3], row[0], row[1]),
)
print(f"{'model':<8} {'depth':>5} {'accuracy':>9} {'macro F1':>9}")
for model, depth, accuracy, f1 in rows:
    print(f"{model:<8} {depth:>5} {accuracy:>9.3f} {f1:>9.3f}")

# %%
best_model, best_depth, best_accuracy, _ = rows[0]
print(f"best: {best_model} at depth {best_depth} ({best_accuracy:.3f} accuracy)")
nbflow.record("best", f"model={best_model},depth={best_depth}")
nbflow.record("best_accuracy", best_accuracy)
