"""Data layer: file formats, validation that names the file and row, seeded sampling."""

import json

import pytest

from robustune.data import LabelMap, TextDataset, imbalance, k_shot, label_noise, load_source, stratified_split
from robustune.errors import DataError


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_reads_csv_tsv_jsonl(tmp_path):
    csv = write(tmp_path, "a.csv", 'text,label\n"hello, world",pos\nbye,neg\n')
    tsv = write(tmp_path, "a.tsv", 'sentence\tlabel\nit \'s a "quote\t1\nbad\t0\n')
    jsonl = write(tmp_path, "a.jsonl", '{"text": "hi", "label": 1}\n\n{"text": "ho", "label": 0}\n')
    assert load_source(csv).texts == ["hello, world", "bye"]
    assert load_source(tsv).texts[0] == 'it \'s a "quote'  # TSV is read without quoting (GLUE style)
    assert load_source(jsonl).labels == ["1", "0"]


def test_empty_text_names_row(tmp_path):
    path = write(tmp_path, "bad.csv", "text,label\ngood,1\nfine,0\n  ,1\n")
    with pytest.raises(DataError, match=r"bad.csv: row 3 \(line 4\): the text is empty"):
        load_source(path)


def test_missing_label_names_row(tmp_path):
    path = write(tmp_path, "bad.csv", "text,label\ngood,1\nfine,\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): the label is missing"):
        load_source(path)


def test_undecodable_bytes_name_line(tmp_path):
    path = write(tmp_path, "bad.csv", b"text,label\ngood,1\nbad \xff\xfe,0\n", mode="wb")
    with pytest.raises(DataError, match=r"bad.csv: line 3 is not valid UTF-8"):
        load_source(path)


def test_wrong_delimiter_is_explained(tmp_path):
    path = write(tmp_path, "tabs.csv", "text\tlabel\ngood\t1\n")
    with pytest.raises(DataError, match="tab-separated"):
        load_source(path)


def test_wrong_field_count_names_row(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\ngood,1\nbad,0,extra\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): has 3 fields but the header has 2"):
        load_source(path)


def test_missing_column_lists_columns(tmp_path):
    path = write(tmp_path, "a.csv", "body,y\ngood,1\n")
    with pytest.raises(DataError, match=r"cannot find a text column among \['body', 'y'\]"):
        load_source(path)
    data = load_source(path, text_column="body", label_column="y")
    assert data.texts == ["good"] and data.labels == ["1"]


def test_bad_json_names_row(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match=r"row 2 \(line 2\): not valid JSON"):
        load_source(path)


def test_missing_file_and_split_on_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_source(tmp_path / "nope.csv")
    path = write(tmp_path, "a.csv", "text,label\ngood,1\n")
    with pytest.raises(DataError, match="a file has no splits"):
        load_source(f"{path}:test")


def test_unseen_label_names_row(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\ngood,pos\nmeh,neutral\n")
    with pytest.raises(DataError, match=r"a.csv: row 2 \(line 3\): label 'neutral' is not one the model"):
        LabelMap(("neg", "pos")).encode(load_source(path))


def test_saved_datasets_folder(tmp_path):
    import datasets

    ds = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]},
                                            features=datasets.Features({"text": datasets.Value("string"),
                                                                        "label": datasets.ClassLabel(names=["neg", "pos"])})),
    })
    ds.save_to_disk(str(tmp_path / "saved"))
    data = load_source(tmp_path / "saved")
    assert data.labels == ["neg", "pos"]
    with pytest.raises(DataError, match="has splits"):
        load_source(f"{tmp_path / 'saved'}:test")


def test_saved_split_with_unlabelled_rows(tmp_path):
    """GLUE-style test splits mark missing labels -1: fine for predict, a named row for training."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    ds = datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, -1]},
                                                                  features=features)})
    ds.save_to_disk(str(tmp_path / "saved"))
    assert load_source(f"{tmp_path / 'saved'}:test", need_labels=False).labels is None
    with pytest.raises(DataError, match="row 2: the label is missing"):
        load_source(f"{tmp_path / 'saved'}:test")


def test_label_map_orders_numbers_numerically():
    assert LabelMap.from_labels(["10", "2", "1"]).names == ("1", "2", "10")
    with pytest.raises(DataError, match="at least 2 classes"):
        LabelMap.from_labels(["a", "a"])


def _data(n_per_class=50, classes=("a", "b", "c")):
    labels = [c for c in classes for _ in range(n_per_class)]
    return TextDataset([f"t{i}" for i in range(len(labels))], labels, "mem")


def test_stratified_split_is_seeded_and_stratified():
    train, test = stratified_split(_data(), 0.2, seed=1)
    again, _ = stratified_split(_data(), 0.2, seed=1)
    other, _ = stratified_split(_data(), 0.2, seed=2)
    assert train.texts == again.texts and train.texts != other.texts
    assert sorted(test.labels) == ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    assert not set(train.texts) & set(test.texts)


def test_k_shot_imbalance_noise():
    data = _data()
    shots = k_shot(data, 4, seed=0)
    assert sorted(shots.labels) == ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    with pytest.raises(DataError, match="fewer than 60 shots"):
        k_shot(data, 60, seed=0)
    imb = imbalance(data, 0.1, ["a"], seed=0)
    assert imb.labels.count("a") == 5 and imb.labels.count("b") == 50
    noisy = label_noise(data, 0.2, seed=0)
    flipped = sum(x != y for x, y in zip(data.labels, noisy.labels))
    assert flipped == 30
    assert noisy.labels == label_noise(data, 0.2, seed=0).labels
