"""Fault injection: SIGKILL robustune's long commands at seeded moments, resume each until it
finishes, and check that it ends exactly where an uninterrupted run ends.

For each command (``train`` vanilla and three-phase, ``attack``, ``bench``, ``poison``, ``mlm build``):

1. an uninterrupted reference run, which also records the fault points it passes
   (``robustune.atomic.fault_point``: inside atomic writes, model-folder saves, checkpoint saves,
   checkpoint removal, after each attacked example) and its duration;
2. a chain of runs on a fresh folder: the first as the user typed it, the next ones with
   ``--resume``, until one exits 0. The chain is killed with SIGKILL at seeded moments: first at
   fault points (seeded occurrences of a seeded sample of the kinds of point the reference passed,
   in run order; in a resumed run, the next occurrence of the kind; kinds the chain has gone past
   are not drawn, as a resumed run may never pass them again), then at random times (uniform over
   the reference's duration; a delay longer than the run is no kill). Every run must end with exit
   status 0 or by the kill, never with a traceback;
3. the result — weights (a hash per tensor), metrics and output files, less wall-clock figures —
   must equal the reference's.

``tests/test_fault_injection.py`` runs it on a tiny encoder built in code, each command in a forked
child of the test process (no interpreter start per run). As a script it runs the same on the
bundled MiniLM, each command in its own ``python -m robustune`` process (the bench with one process
per cell, as users run it), with at least 5 kills per command::

    python tests/fault_injection.py --data sst2:train --test sst2:test \
        --work runs/fault-injection [--kills 5 --time-kills 2]
        [--commands train,train-three-phase,attack,bench,poison,mlm-build] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from robustune.atomic import FAULT_KILL_AT, FAULT_LOG

# Wall-clock figures, which no resume can (or should) reproduce.
_TIMING = ("runtime", "per_second", "seconds", "wall", "load_average", "finished", "peak_rss", "flos")
# An attacked example's share of the forwards it shared with the examples running beside it
# (attacks/concurrent.py): a resumed run puts other examples beside it.
_SHARES = ("forwards",)


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()
                if not any(t in k for t in _TIMING) and k not in _SHARES}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def tensor_hashes(folder: Path) -> dict:
    """sha256 of every tensor of every ``*.safetensors`` file directly in ``folder``."""
    from safetensors.torch import load_file

    hashes = {}
    for path in sorted(folder.glob("*.safetensors")):
        for name, tensor in sorted(load_file(str(path)).items()):
            hashes[f"{path.name}:{name}"] = hashlib.sha256(tensor.contiguous().view(-1).numpy().tobytes()).hexdigest()
    return hashes


def _json(path: Path):
    return _untimed(json.loads(path.read_text()))


def _jsonl(path: Path):
    return [_untimed(json.loads(line)) for line in path.read_text().splitlines()]


def train_result(out: Path) -> dict:
    return {"weights": tensor_hashes(out), "train_metrics": _json(out / "train_metrics.json"),
            "eval_metrics": _json(out / "eval_metrics.json"),
            "files": sorted(p.name for p in out.iterdir())}


def attack_result(out: Path) -> dict:
    return {"summary": _json(out / "summary.json"), "examples": _jsonl(out / "examples.jsonl"),
            "report": [line for line in (out / "report.md").read_text().splitlines()
                       if not any(t in line for t in _TIMING)], "files": sorted(p.name for p in out.iterdir())}


def bench_result(out: Path) -> dict:
    results = _json(out / "results.json")
    models = {c["folder"]: tensor_hashes(out / c["folder"] / "model") for c in results["cells"]
              if (out / c["folder"] / "model").is_dir()}
    return {"cells": [{k: c[k] for k in ("id", "metrics")} for c in results["cells"]],
            "aggregates": results["aggregates"], "robustness": results["robustness"], "models": models,
            "report": (out / "report.html").is_file()}


def poison_result(out: Path) -> dict:
    record = _json(out / "poison.json")
    record.pop("train_metrics")  # train_loss sums the losses this process saw (and timings)
    return {"weights": tensor_hashes(out), "record": record, "files": sorted(p.name for p in out.iterdir()),
            "leftovers": sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))}


def mlm_result(out: Path) -> dict:
    return {"weights": tensor_hashes(out), "stats": _json(out / "mlm_build.json"),
            "files": sorted(p.name for p in out.iterdir())}


@dataclass
class Command:
    name: str
    argv: list[str]  # "{out}" and "{victim}" are filled in
    result: Callable[[Path], dict]
    needs_victim: bool = False


def tiny_commands(data: Path, encoder: str, work: Path) -> list[Command]:
    """The commands on a tiny encoder and toy data (the suite's variant)."""
    common = ["--model", encoder, "--max-length", "16", "--seed", "1", "--no-progress"]
    train = ["train", "--data", str(data), "--eval-data", str(data), "--output", "{out}", "--epochs", "2",
             "--batch-size", "8", "--lr", "1e-3", "--save-steps", "3", *common]
    bench_config = work / "bench.yaml"
    bench_config.write_text(json.dumps({  # JSON is YAML
        "name": "fault-injection", "model": encoder, "train": {"epochs": 1, "batch_size": 8, "lr": 1e-3, "max_length": 16},
        "seeds": [1], "datasets": [{"name": "toy", "train": str(data), "test": str(data), "max_test_rows": 12}],
        "settings": [{"name": "rich", "max_train_samples": 24}], "methods": ["vanilla"], "peers": [],
        "attacks": [{"recipe": "deepwordbug", "num_examples": 4}], "report": {"projection_rows": 12}}))
    return [
        Command("train", train, train_result),
        Command("train-three-phase", train[:-len(common)] + ["--method", "three-phase", "--dae-epochs", "1",
                "--dae-batch-size", "16", "--cl-epochs", "1", "--cl-batch-size", "16", "--epochs", "1",
                "--save-steps", "2", *common], train_result),
        Command("attack", ["attack", "--model", "{victim}", "--data", str(data), "--recipe", "deepwordbug",
                           "--num-examples", "10", "--output", "{out}", "--no-progress"], attack_result, True),
        Command("bench", ["bench", "--config", str(bench_config), "--output", "{out}", "--inline", "--no-progress"],
                bench_result),
        Command("poison", ["poison", "--data", str(data), "--target-label", "positive", "--output", "{out}",
                           "--epochs", "2", "--batch-size", "8", "--lr", "1e-3", "--save-steps", "3", *common],
                poison_result),
        Command("mlm-build", ["mlm", "build", "--data", str(data), "--output", "{out}", "--base", "scratch",
                              "--tokenizer", "unigram", "--vocab-size", "120", "--hidden", "32", "--layers", "1",
                              "--steps", "24", "--save-steps", "5", "--batch-size", "8", "--max-length", "16",
                              "--no-progress"], mlm_result),
    ]


def real_commands(data: Path | str, test: Path, work: Path, rows: int) -> list[Command]:
    """The commands on the bundled MiniLM (the script's variant): small, but the real encoder."""
    common = ["--max-length", "48", "--seed", "1", "--no-progress"]
    train = ["train", "--data", str(data), "--max-train-samples", str(rows), "--eval-data", str(test),
             "--output", "{out}", "--epochs", "1", "--batch-size", "16", "--save-steps", "3", *common]
    bench_config = work / "bench.yaml"
    bench_config.write_text(json.dumps({
        "name": "fault-injection", "train": {"epochs": 1, "batch_size": 16, "max_length": 48},
        "seeds": [1], "datasets": [{"name": "data", "train": str(data), "test": str(test), "max_test_rows": 100}],
        "settings": [{"name": "small", "max_train_samples": rows}], "methods": ["vanilla"], "peers": [],
        "attacks": [{"recipe": "deepwordbug", "num_examples": 8}], "report": {"projection_rows": 50}}))
    return [
        Command("train", train, train_result),
        Command("train-three-phase", train[:-len(common)] + ["--method", "three-phase", "--dae-epochs", "1",
                "--dae-batch-size", "16", "--cl-epochs", "1", "--cl-batch-size", "16", "--save-steps", "3",
                *common], train_result),
        Command("attack", ["attack", "--model", "{victim}", "--data", str(test), "--recipe", "deepwordbug",
                           "--num-examples", "12", "--output", "{out}", "--no-progress"], attack_result, True),
        Command("bench", ["bench", "--config", str(bench_config), "--output", "{out}", "--no-progress"], bench_result),
        Command("poison", ["poison", "--data", str(data), "--max-train-samples", str(rows), "--target-label", "1",
                           "--output", "{out}", "--epochs", "1", "--batch-size", "16", "--save-steps", "3", *common],
                poison_result),
        Command("mlm-build", ["mlm", "build", "--data", str(data), "--output", "{out}", "--train-layers", "1",
                              "--steps", "40", "--save-steps", "8", "--batch-size", "16", "--max-length", "32",
                              "--no-progress"], mlm_result),
    ]


class Runner:
    """Starts ``robustune ARGV`` as a forked child of this process (fork=True) or a new interpreter."""

    def __init__(self, fork: bool):
        self.fork = fork

    def run(self, argv: list[str], env: dict, log: Path, kill_after: float | None = None) -> int:
        """Exit status (negative: killed by that signal); SIGKILLed after ``kill_after`` seconds."""
        if self.fork:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                self._child(argv, env, log)
            poll = lambda: os.waitpid(pid, os.WNOHANG)  # noqa: E731
            kill = lambda: os.kill(pid, signal.SIGKILL)  # noqa: E731
        else:
            with log.open("a") as sink:
                proc = subprocess.Popen([sys.executable, "-m", "robustune", *argv], stdout=sink, stderr=subprocess.STDOUT,
                                        env={**os.environ, **env})
            poll = lambda: (proc.pid, 0) if proc.poll() is None else (proc.pid, proc.returncode)  # noqa: E731
            kill = lambda: proc.send_signal(signal.SIGKILL)  # noqa: E731
        deadline = None if kill_after is None else time.monotonic() + kill_after
        while True:
            done, status = poll()
            if done and (not self.fork or done == pid):
                break
            if deadline is not None and time.monotonic() >= deadline:
                kill()
                deadline = None
            time.sleep(0.01)
        if self.fork:
            return os.waitstatus_to_exitcode(status)
        return proc.wait()

    @staticmethod
    def _child(argv: list[str], env: dict, log: Path) -> None:  # pragma: no cover - the child
        rc = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = sys.stderr = open(fd, "w", buffering=1, closefd=False)
            os.environ.update(env)
            from robustune.cli import main

            rc = main(argv)
        except SystemExit as err:
            rc = err.code if isinstance(err.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(rc)


@dataclass
class Outcome:
    command: str
    reference_seconds: float
    fault_points: int
    kills: list[str] = field(default_factory=list)  # where each kill landed
    runs: int = 0
    equal: bool = False
    difference: str = ""


def _fill(argv: list[str], out: Path, victim: Path | None) -> list[str]:
    return [a.replace("{out}", str(out)).replace("{victim}", str(victim)) for a in argv]


def _resume_argv(argv: list[str]) -> list[str]:
    return argv + ["--resume"]


def _first_difference(a, b, path="") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:200]} != {str(b)[:200]}"


def run_command(command: Command, work: Path, runner: Runner, rng: random.Random, kills: int,
                time_kills: int, victim: Path | None = None) -> Outcome:
    """Reference run, then a killed-and-resumed chain; compares their results (see the module docstring)."""
    folder = work / command.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ref_out, ref_log, points = folder / "reference", folder / "reference.log", folder / "reference.points"
    start = time.monotonic()
    rc = runner.run(_fill(command.argv, ref_out, victim), {FAULT_LOG: str(points)}, ref_log)
    seconds = time.monotonic() - start
    if rc != 0:
        raise AssertionError(f"{command.name}: the reference run failed ({rc}):\n{ref_log.read_text()[-3000:]}")
    names = points.read_text().splitlines() if points.is_file() else []
    outcome = Outcome(command.name, round(seconds, 2), len(names))

    # Kills at fault points first: at each step a seeded draw among the kinds of point the reference
    # passed (at a seeded occurrence of each) that the chain has not yet gone past, the earliest of
    # a sample as large as the kills left, so that they spread over the run in order. Then kills at
    # random times (uniform over the reference's duration; one that comes after the run ends is none).
    occurrences: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        occurrences.setdefault(name, []).append(position)
    chosen = sorted((p[rng.randrange(len(p))], name) for name, p in occurrences.items())
    delays = [rng.uniform(0.05, 1.0) * seconds for _ in range(time_kills)]

    out, log, chain_points = folder / "killed", folder / "killed.log", folder / "killed.points"
    argv = _fill(command.argv, out, victim)

    def passed() -> list[str]:
        return chain_points.read_text().splitlines() if chain_points.is_file() else []

    def progress() -> int:
        """Where in the reference's sequence of fault points the chain has got to (-1: nowhere)."""
        chain = passed()
        if not chain or chain[-1] not in occurrences:
            return -1
        seen = occurrences[chain[-1]]
        return seen[min(chain.count(chain[-1]), len(seen)) - 1]

    point_kills = 0
    for attempt in range(kills + time_kills + 3):
        env, target, delay = {FAULT_LOG: str(chain_points)}, None, None
        ahead = [c for c in chosen if c[0] > progress()]  # a resumed run may never pass the others again
        if point_kills < kills and ahead:
            position, target = min(rng.sample(ahead, min(len(ahead), kills - point_kills)))
            chosen.remove((position, target))
            # its occurrence in a fresh run; in a resumed run, the next one
            nth = occurrences[target].index(position) + 1 if not passed() else passed().count(target) + 1
            env[FAULT_KILL_AT] = f"{target}#{nth}"
            point_kills += 1
        elif delays:
            delay = delays.pop(0)
        before = len(log.read_text()) if log.is_file() else 0
        rc = runner.run(argv if attempt == 0 else _resume_argv(argv), env, log, kill_after=delay)
        outcome.runs += 1
        text = log.read_text()[before:]
        # A bench whose cell process was killed says so and exits 2 (resume with --resume), no traceback.
        if rc == 2 and "(exit status -9;" in text:
            rc = -signal.SIGKILL
        if "Traceback" in text or rc not in (0, -signal.SIGKILL):
            raise AssertionError(f"{command.name}: run {attempt + 1} of the chain ended with {rc}:\n{text[-3000:]}")
        if rc == 0:
            break
        last = passed()[-1] if passed() else "none"
        outcome.kills.append(f"at fault point {target!r}" if target is not None
                             else f"at {delay:.2f} s (last fault point passed: {last!r})")
    else:
        raise AssertionError(f"{command.name}: did not finish after {outcome.runs} runs")
    reference, resumed = command.result(ref_out), command.result(out)
    outcome.equal = reference == resumed
    if not outcome.equal:
        outcome.difference = _first_difference(reference, resumed)
    return outcome


def run_all(commands: list[Command], work: Path, runner: Runner, seed: int, kills: int, time_kills: int,
            victim_argv: list[str], report: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
    """Run every command (building the attack's victim first if one needs it)."""
    victim = None
    if any(c.needs_victim for c in commands):
        victim = work / "victim"
        shutil.rmtree(victim, ignore_errors=True)
        rc = runner.run(_fill(victim_argv, victim, None), {}, work / "victim.log")
        if rc != 0:
            raise AssertionError(f"training the victim failed:\n{(work / 'victim.log').read_text()[-3000:]}")
    outcomes = []
    for i, command in enumerate(commands):
        outcome = run_command(command, work, runner, random.Random(seed * 1000 + i), kills, time_kills, victim)
        report(outcome)
        outcomes.append(outcome)
    return outcomes


def first_rows(source: str, n: int, path: Path) -> Path:
    """The first ``n`` labelled rows of ``source`` (a file or a dataset name) as JSON lines at ``path``."""
    from robustune.data import load_source

    data = load_source(source, "test")
    labels = data.require_labels()
    path.write_text("".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n"
                            for t, l in zip(data.texts[:n], labels[:n])), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="labelled training data: a file or a dataset name (e.g. sst2:train)")
    parser.add_argument("--test", required=True, help="labelled test data, its first 200 rows used: a file or a "
                        "dataset name (e.g. sst2:test)")
    parser.add_argument("--work", required=True, help="scratch folder (emptied per command)")
    parser.add_argument("--rows", type=int, default=96, help="training rows per command (default: 96)")
    parser.add_argument("--kills", type=int, default=5, help="kills at fault points per command (default: 5)")
    parser.add_argument("--time-kills", type=int, default=2, help="kills at random times per command (default: 2)")
    parser.add_argument("--commands", help="comma-separated subset of the commands")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    test = first_rows(args.test, 200, work / "test.jsonl")
    data = Path(args.data).resolve() if Path(args.data).exists() else args.data  # a file, or a dataset name
    commands = real_commands(data, test, work, args.rows)
    victim_argv = commands[0].argv
    if args.commands:
        wanted = args.commands.split(",")
        commands = [c for c in commands if c.name in wanted]

    def report(o: Outcome) -> None:
        print(json.dumps(vars(o)), flush=True)

    outcomes = run_all(commands, work, Runner(fork=False), args.seed, args.kills, args.time_kills,
                       victim_argv, report)
    failed = [o.command for o in outcomes if not o.equal]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} commands ended identical to an uninterrupted run"
          + (f"; differing: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
