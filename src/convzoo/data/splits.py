"""Seeded stratified splits: scikit-learn's ``train_test_split`` with the edge cases handled."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convzoo.errors import ConvzooError


def stratified_split(
    labels: Sequence[int], val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Sorted train and validation indices of a seeded split that keeps every class's share.

    scikit-learn's ``train_test_split(stratify=...)`` does the split: it shares the held-out
    count among the classes in proportion to their size (so a small class next to big ones may
    give none). Around it: a class with a single image stays in training (scikit-learn refuses
    it); the held-out count is ``round(n * val_fraction)``, raised to the number of classes with
    two or more images (scikit-learn needs at least that many) and lowered to leave as many in
    training.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConvzooError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    y = np.asarray(list(labels), dtype=np.int64)
    classes, counts = np.unique(y, return_counts=True)
    splittable = np.isin(y, classes[counts >= 2])
    pool = np.flatnonzero(splittable)
    kinds = int((counts >= 2).sum())
    if kinds == 0:
        return list(range(len(y))), []
    n_val = min(max(round(len(pool) * val_fraction), kinds), len(pool) - kinds)
    # scikit-learn costs about 0.4 s to import; only the runs that split pay it.
    from sklearn.model_selection import train_test_split

    train_pool, val_idx = train_test_split(
        pool, test_size=n_val, stratify=y[pool], random_state=seed
    )
    train_idx = np.concatenate([train_pool, np.flatnonzero(~splittable)])
    return sorted(int(i) for i in train_idx), sorted(int(i) for i in val_idx)
