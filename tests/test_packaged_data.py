"""SST-2 and AG News ship inside the package, split by split identical to the TSVs of the published figures."""

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from robustune.data import load_source
from robustune.data.packaged import PACKAGED, packaged_file
from robustune.errors import DataError

# sha256 of the original TSV files (SST-2 in GLUE's form, AG News), rows and labels per split.
EXPECTED = {
    ("sst2", "train"): ("920e317b2c52e12cd22db1da2c6708312bd7dc4f3712b9bbf1b50ee6c2c792ba", 60614, {"0": 26786, "1": 33828}),
    ("sst2", "dev"): ("92353770071a2a889f75d000a38a9e541ea8f0a5499e50f040b17917a5cbf66f", 6735, {"0": 2994, "1": 3741}),
    ("sst2", "test"): ("54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", 872, {"0": 428, "1": 444}),
    ("ag_news", "train"): ("4fbef71c429cc016ff04f610d84a733ec37ce5e7c2a61da158526396f00d0ec3", 10001,
                           {"Business": 2496, "Sci/Tech": 2538, "Sports": 2458, "World": 2509}),
    ("ag_news", "test"): ("d1829f25a430349a0a380c5646e25e71650551690ee42b5a7e5dfb5ccb525ce1", 7600,
                          {"Business": 1900, "Sci/Tech": 1900, "Sports": 1900, "World": 1900}),
}
# A folder with the original TSVs (sst2/, agnews/), if at hand; without it the checksums above stand in.
ORIGINALS = Path(os.environ.get("ROBUSTUNE_ORIGINAL_DATASETS", "no-originals"))
FOLDER = {"sst2": "sst2", "ag_news": "agnews"}


@pytest.mark.parametrize("name,split", list(EXPECTED))
def test_packaged_split_rows_labels_and_checksum(name, split):
    digest, rows, labels = EXPECTED[name, split]
    assert hashlib.sha256(gzip.decompress(packaged_file(name, split).read_bytes())).hexdigest() == digest
    data = load_source(f"{name}:{split}")
    assert len(data) == rows and data.origin == f"{name}:{split}"
    assert {label: data.labels.count(label) for label in set(data.labels)} == labels
    assert data.rows[0] == f"{name}:{split}: row 1 (line 2)"
    original = ORIGINALS / FOLDER[name] / f"{split}.tsv"
    if original.is_file():
        reference = load_source(str(original))
        for i in (0, -1):
            assert (data.texts[i], data.labels[i]) == (reference.texts[i], reference.labels[i])


def test_splits_default_alias_all_and_missing_dev():
    assert set(PACKAGED) == {"sst2", "ag_news"}
    assert load_source("sst2").origin == "sst2:train"
    assert load_source("sst2:validation").texts == load_source("sst2:dev").texts
    assert len(load_source("ag_news:all")) == 10001 + 7600
    with pytest.raises(DataError, match="'ag_news' has splits train, test, all, not 'dev': AG News has no dev"):
        load_source("ag_news:dev")


def test_gzip_files_read_like_plain_ones(tmp_path):
    (tmp_path / "a.tsv.gz").write_bytes(gzip.compress(b"sentence\tlabel\nfine\t1\nbad\t0\n"))
    data = load_source(str(tmp_path / "a.tsv.gz"))
    assert data.texts == ["fine", "bad"] and data.labels == ["1", "0"]
    (tmp_path / "b.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="b.csv.gz: not a valid gzip file"):
        load_source(str(tmp_path / "b.csv.gz"))
