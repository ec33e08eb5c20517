"""Crash safety: every long command, SIGKILLed at seeded moments (inside checkpoint saves and output
writes among them) and resumed until it finishes, ends identical to an uninterrupted run
(``fault_injection.py``); plus the pieces it rests on, one by one."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from robustune.atomic import FAULT_KILL_AT, FAULT_LOG, save_folder, write_json
from robustune.training.checkpoints import last_complete_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from conftest import toy_rows  # noqa: E402
from fault_injection import Runner, run_all, run_command, tiny_commands, train_result  # noqa: E402


@pytest.fixture
def toy(tmp_path) -> Path:
    path = tmp_path / "toy.csv"
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in toy_rows()))
    return path


def test_every_command_survives_kills_and_resumes_to_the_identical_result(toy, tiny_encoder, tmp_path):
    commands = tiny_commands(toy, tiny_encoder, tmp_path)
    assert {c.name for c in commands} == {"train", "train-three-phase", "attack", "bench", "poison", "mlm-build"}
    outcomes = run_all(commands, tmp_path, Runner(fork=True), seed=0, kills=3, time_kills=1,
                       victim_argv=commands[0].argv)
    for o in outcomes:
        assert o.equal, f"{o.command}: {o.difference} (kills: {o.kills})"
        assert o.kills and o.runs == len(o.kills) + 1, o
        assert any(k.startswith("at fault point") for k in o.kills), o
    kills = " ".join(k for o in outcomes for k in o.kills)
    for kind in ("checkpoint:", "write ", "save "):  # kills landed inside checkpoint saves and output writes
        assert kind in kills, kills


def test_reproduction_kill_while_a_checkpoint_is_written(toy, tiny_encoder, tmp_path, capfd):
    """Issue 25's reproduction: killed inside the second checkpoint's save, then --resume."""
    command = tiny_commands(toy, tiny_encoder, tmp_path)[0]
    runner = Runner(fork=True)
    reference, out = tmp_path / "ref", tmp_path / "out"
    argv = [a.replace("{out}", str(reference)) for a in command.argv]
    assert runner.run(argv, {}, tmp_path / "ref.log") == 0
    points = tmp_path / "points"
    argv = [a.replace("{out}", str(out)) for a in command.argv]
    env = {FAULT_LOG: str(points), FAULT_KILL_AT: "checkpoint: weights written#2"}
    assert runner.run(argv, env, tmp_path / "killed.log") == -9
    assert points.read_text().splitlines()[-1] == "checkpoint: weights written"
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    assert not (out / "checkpoints" / "checkpoint-6" / "trainer_state.json").exists()
    log = tmp_path / "resumed.log"
    assert runner.run(argv + ["--resume"], {}, log) == 0
    text = log.read_text()
    assert "checkpoint-6: incomplete checkpoint" in text and "Traceback" not in text
    assert train_result(out) == train_result(reference)


def test_last_complete_checkpoint_skips_torn_and_half_deleted_ones(tmp_path, capsys):
    def checkpoint(step, state="{\"global_step\": 1}", weights=True):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if weights:
            (folder / "model.safetensors").write_bytes(b"x")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)

    checkpoint(2, weights=False)  # half deleted by the rotation
    checkpoint(10)
    checkpoint(30, state='{"global_st')  # trainer_state.json cut short
    checkpoint(40, state=None)  # killed before trainer_state.json
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10"]
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 3 and all("incomplete checkpoint" in w for w in warnings)
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_a_model_folder_killed_mid_save_is_not_a_model(tmp_path, monkeypatch):
    from robustune import atomic

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_text("old")
    (folder / "config.json").write_text("old")

    def save(staging):
        (staging / "config.json").write_text("new")
        (staging / "model.safetensors").write_text("new")

    def die(name):
        if name == "save model.safetensors: the other files in place":
            raise KeyboardInterrupt  # stands for the kill

    monkeypatch.setattr(atomic, "fault_point", die)
    with pytest.raises(KeyboardInterrupt):
        save_folder(folder, save, last="model.safetensors")
    assert not (folder / "model.safetensors").exists()  # new config, no weights: not a model
    from robustune.errors import RobustuneError
    from robustune.modeling import RobustClassifier

    with pytest.raises(RobustuneError, match="not a robustune model directory"):
        RobustClassifier.from_pretrained(folder)
    monkeypatch.setattr(atomic, "fault_point", lambda name: None)
    save_folder(folder, save, last="model.safetensors")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"config.json": "new", "model.safetensors": "new"}


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    from robustune import atomic

    path = tmp_path / "metrics.json"
    write_json(path, {"a": 1})
    monkeypatch.setattr(atomic, "fault_point", lambda name: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_resume_of_a_finished_train_returns_it_and_refuses_other_settings(toy, tiny_encoder, tmp_path):
    from robustune.cli import main

    command = tiny_commands(toy, tiny_encoder, tmp_path)[0]
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in command.argv]
    assert main(argv) == 0
    before = train_result(tmp_path / "out")
    assert main(argv + ["--resume"]) == 0  # killed after its last write: nothing left to do
    assert train_result(tmp_path / "out") == before
    assert main([a if a != "2" else "3" for a in argv] + ["--resume"]) == 2  # --epochs 3: other settings


def test_fault_injection_seeds_differ(toy, tiny_encoder, tmp_path):
    """The harness itself: kills are drawn from the seed (two seeds, two schedules) and land."""
    command = tiny_commands(toy, tiny_encoder, tmp_path)[-1]  # mlm build: the quickest
    runner = Runner(fork=True)
    a = run_command(command, tmp_path / "a", runner, random.Random(1), kills=2, time_kills=0)
    b = run_command(command, tmp_path / "b", runner, random.Random(2), kills=2, time_kills=0)
    assert a.equal and b.equal and len(a.kills) == len(b.kills) == 2 and a.kills != b.kills


def test_a_staged_method_killed_inside_a_phase_resumes_to_the_identical_result(toy, tiny_encoder, tmp_path):
    command = tiny_commands(toy, tiny_encoder, tmp_path)[1]  # three-phase, checkpoints every 2 steps
    runner = Runner(fork=True)
    reference, out = tmp_path / "ref", tmp_path / "out"
    assert runner.run([a.replace("{out}", str(reference)) for a in command.argv], {}, tmp_path / "ref.log") == 0
    argv = [a.replace("{out}", str(out)) for a in command.argv]
    # the first checkpoint of the first (DAE) phase, killed half written
    env = {FAULT_LOG: str(tmp_path / "points"), FAULT_KILL_AT: "checkpoint: weights written#1"}
    assert runner.run(argv, env, tmp_path / "killed.log") == -9
    assert [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("stage-")] == ["stage-dae"]
    log = tmp_path / "resumed.log"
    assert runner.run(argv + ["--resume"], {}, log) == 0
    assert "stage-dae/checkpoint-2: incomplete checkpoint" in log.read_text() and "Traceback" not in log.read_text()
    assert train_result(out) == train_result(reference)
