"""The CLI: help on every command, user errors without a traceback, nothing half-written."""

import json
import subprocess
import sys

import pytest

from robustune.cli import COMMANDS, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "robustune", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("command", [m.__name__.rsplit(".", 1)[1] for m in COMMANDS])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: robustune" in capsys.readouterr().out


def test_empty_text_in_row_3_fails_cleanly_and_writes_no_model(tiny_encoder, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na good film,pos\na bad film,neg\n,pos\nfine,neg\n")
    result = run_cli("train", "--data", bad, "--output", tmp_path / "out", "--model", tiny_encoder)
    assert result.returncode == 2
    assert "row 3" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_train_evaluate_predict_roundtrip(tiny_encoder, toy_csv, tmp_path):
    out = tmp_path / "m"
    assert main(["train", "--data", str(toy_csv), "--output", str(out), "--model", tiny_encoder,
                 "--epochs", "1", "--batch-size", "8"]) == 0
    metrics_path = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(out), "--data", str(toy_csv), "--output", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n"] == 48 and set(metrics) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    assert sum(map(sum, metrics["confusion_matrix"])) == 48
    preds = tmp_path / "preds.jsonl"
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(rows) == 48 and set(rows[0]["probabilities"]) == {"negative", "positive"}
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-4


def test_evaluate_unseen_label_names_row(tiny_encoder, toy_csv, tmp_path, capsys):
    out = tmp_path / "m"
    main(["train", "--data", str(toy_csv), "--output", str(out), "--model", tiny_encoder, "--epochs", "1"])
    other = tmp_path / "other.csv"
    other.write_text("text,label\ngood,positive\nmeh,neutral\n")
    assert main(["evaluate", "--model", str(out), "--data", str(other)]) == 2
    assert "row 2 (line 3): label 'neutral'" in capsys.readouterr().err


def test_user_errors_exit_2(tiny_encoder, toy_csv, tmp_path, capsys):
    assert main(["train", "--data", str(toy_csv), "--output", str(tmp_path / "o"), "--epochs", "0"]) == 2
    assert main(["train", "--data", str(toy_csv), "--output", str(tmp_path / "o"), "--param", "x=1"]) == 2
    assert "has no parameter 'x'" in capsys.readouterr().err
    assert main(["train", "--data", str(toy_csv), "--output", str(tmp_path / "o"), "--save-steps", "0"]) == 2
    assert "--save-steps must be positive" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path), "--data", str(toy_csv)]) == 2
    assert main(["data", str(tmp_path / "missing.csv")]) == 2
    assert not (tmp_path / "o").exists()


def test_data_command(toy_csv, capsys):
    assert main(["data", str(toy_csv)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 48 and report["labels"] == {"negative": 24, "positive": 24}
    assert any("duplicate" in p for p in report["problems"])


def test_no_progress_silences_the_bars(tiny_encoder, toy_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # a caller's own switch would hide the default bar
    out, preds = tmp_path / "m", tmp_path / "preds.jsonl"
    assert main(["train", "--data", str(toy_csv), "--output", str(out), "--model", tiny_encoder,
                 "--epochs", "1", "--batch-size", "8", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(preds)]) == 0
    assert "batch" in capsys.readouterr().err  # the bar is on by default
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(preds),
                 "--no-progress"]) == 0
    assert "batch" not in capsys.readouterr().err
    # tqdm's own switch is the default: it would not reach bars that pass disable= explicitly
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert main(["predict", "--model", str(out), "--data", str(toy_csv), "--output", str(preds)]) == 0
    assert "batch" not in capsys.readouterr().err
