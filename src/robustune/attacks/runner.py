"""Attack a dataset: pick the examples, attack each, append it to ``examples.jsonl``, summarise.

Each finished example is appended (and flushed) to ``examples.jsonl`` at once, so an interrupted
run loses nothing: ``resume=True`` skips the examples already there. ``summary.json`` and the
Markdown report are rebuilt from the whole JSONL at the end, so a resumed run's figures cover
every example.
"""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_path, fault_point, write_json, write_text
from ..data import TextDataset
from ..data.sampling import subset_indices
from ..errors import RobustuneError
from .attack import Attack, Segmenter, apply_substitutions
from .concurrent import attack_many
from .text import WordText
from .victim import Victim

EXAMPLES, SUMMARY, REPORT, RUN = "examples.jsonl", "summary.json", "report.md", "run.json"


def label_ids(data: TextDataset, names: list[str]) -> list[int]:
    """The victim's label ids of the data's labels. Numeric labels match by position only when the
    victim's names are Hugging Face's placeholders (``LABEL_0``, ...), which say nothing else."""
    index = {n: i for i, n in enumerate(names)}
    placeholders = all(n == f"LABEL_{i}" for i, n in enumerate(names))
    ids = []
    for label, row in zip(data.require_labels(), data.rows):
        if label in index:
            ids.append(index[label])
        elif placeholders and label.isdigit() and int(label) < len(names):
            ids.append(int(label))
        else:
            raise RobustuneError(f"{row}: label {label!r} is not one the model knows ({', '.join(names)})")
    return ids


def summarize(records: list[dict], precision: str | None = None) -> dict:
    """The headline figures of an attack run (TextAttack's definitions).

    ``avg_queries``: texts sent to the victim per attacked example (cache hits not counted, the fp32
    checks of a bf16 search included); ``avg_requested``: texts the search asked to have scored,
    cache hits included -- what TextAttack reports as queries. ``precision``: what the search ran in
    (``bf16``: every reported flip confirmed by the fp32 model; ``overturned``: flips it rejected)."""
    counts = {s: sum(r["status"] == s for r in records) for s in ("successful", "failed", "skipped")}
    n = len(records)
    attacked = [r for r in records if r["status"] != "skipped"]
    successful = [r for r in records if r["status"] == "successful"]
    seconds = sum(r["seconds"] for r in records)
    # Records written before the victim's time was recorded have no "victim_seconds".
    victim_seconds = sum(r.get("victim_seconds", 0.0) for r in records)
    forwards = sum(r["forwards"] for r in records)
    return {
        "num_examples": n,
        "clean_accuracy": len(attacked) / n if n else 0.0,
        "accuracy_under_attack": counts["failed"] / n if n else 0.0,
        "attack_success_rate": len(successful) / len(attacked) if attacked else 0.0,
        "avg_perturbed_word_pct": float(np.mean([r["perturbed_word_pct"] for r in successful])) if successful else 0.0,
        "avg_queries": float(np.mean([r["queries"] for r in attacked])) if attacked else 0.0,
        # Records written before these were recorded lack them.
        "avg_requested": float(np.mean([r.get("requested", r["queries"]) for r in attacked])) if attacked else 0.0,
        "avg_exact_queries": float(np.mean([r.get("exact_queries", 0) for r in attacked])) if attacked else 0.0,
        "overturned": sum(r.get("overturned", 0) for r in records),
        # Encoder forwards the queries cost the model: N per query for a smoothed (voting) victim.
        "avg_model_forwards": float(np.mean([r["queries"] * r.get("forwards_per_query", 1) for r in attacked]))
        if attacked else 0.0,
        "seconds_per_example": seconds / n if n else 0.0,
        "victim_seconds_per_example": victim_seconds / n if n else 0.0,
        "forwards_per_second": forwards / seconds if seconds else 0.0,
        "counts": counts,
        **({"precision": precision} if precision else {}),
    }


def _marked(units: WordText, positions: list[int], style: str) -> str:
    marked = list(units.words)
    for i in positions:
        if marked[i]:  # the later units of a span are empty
            marked[i] = f"{style}{marked[i]}{style}"
    return str(WordText(tuple(marked), units.gaps))


def write_report(path: Path, summary: dict, records: list[dict], names: list[str], title: str,
                 segment: Segmenter = WordText.from_text) -> None:
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    for key, value in summary.items():
        lines.append(f"| {key} | {round(value, 4) if isinstance(value, float) else value} |")
    lines += ["", "Changed units (words, pieces or characters): ~~original~~ and **adversarial**.", ""]
    for r in records:
        if r["status"] != "successful":
            continue
        gold, new = names[r["label"]], names[int(np.argmax(r["adversarial_probabilities"]))]
        original = segment(r["original"])
        # Records written before substitutions were recorded: segment the adversarial text itself.
        adversarial = apply_substitutions(original, r["substitutions"]) if "substitutions" in r \
            else segment(r["adversarial"])
        lines += [f"### example {r['index']} ({gold} -> {new}, {r['queries']} queries)", "",
                  "- original: " + _marked(original, r["modified"], "~~"),
                  "- adversarial: " + _marked(adversarial, r["modified"], "**"), ""]
    failed = sum(r["status"] == "failed" for r in records)
    lines.append(f"{failed} failed and {summary['counts']['skipped']} skipped examples are in {EXAMPLES}.")
    write_text(path, "\n".join(lines) + "\n")


def _read_records(path: Path) -> list[dict]:
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by an interruption: attack it again
                break
    return records


def sample_indices(data: TextDataset, num_examples: int | None, seed: int = 0) -> list[int]:
    """The rows ``run_attack`` attacks, in data order: a seeded sample of ``num_examples`` (all if None)."""
    if num_examples is None:
        return list(range(len(data)))
    return subset_indices(len(data), num_examples, seed)


def run_attack(attack: Attack, victim: Victim, data: TextDataset, output_dir: str | Path,
               num_examples: int | None = None, seed: int = 0, resume: bool = False,
               progress: bool = True, run_info: dict | None = None, concurrency: int = 1) -> dict:
    """Attack ``num_examples`` examples of ``data`` (a seeded sample; all if None) and write the outputs.

    ``concurrency``: examples attacked side by side, their queries scored in shared forwards
    (attacks/concurrent.py); the records are written in the data's order either way."""
    out = Path(output_dir)
    examples_path = out / EXAMPLES
    run = {"recipe": attack.name, "num_examples": num_examples, "seed": seed, "data": data.origin,
           "query_budget": attack.query_budget, "precision": victim.precision,
           **({"compiled": True} if getattr(victim, "compiled", False) else {}), **(run_info or {})}
    if examples_path.exists() and not resume:
        raise RobustuneError(f"{out}: already holds an attack run; pass --resume to continue it, "
                             "or choose another --output")
    if resume and (out / RUN).is_file():
        before = json.loads((out / RUN).read_text())
        # A setting the interrupted run did not record (an older robustune) is not held against it.
        differing = [k for k in run if k in before and before[k] != run[k]]
        if differing:
            raise RobustuneError(f"{out}: --resume with different settings ({', '.join(differing)}) than the "
                                 "interrupted run")
    gold = label_ids(data, victim.label_names)  # a bad label fails before anything is written
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN, run)

    indices = sample_indices(data, num_examples, seed)
    records = _read_records(examples_path)
    # Rewrite what was read (drops a torn last line; atomically, or a kill here would lose them all), then append.
    with atomic_path(examples_path) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    done = {r["index"] for r in records}
    todo = [i for i in indices if i not in done]
    bar = tqdm(todo, desc=f"attack ({attack.name})", unit="example", disable=not progress,
               initial=len(indices) - len(todo), total=len(indices))
    results = attack_many(attack, victim, [(data.texts[i], gold[i]) for i in todo], concurrency)
    with examples_path.open("a", encoding="utf-8") as sink, closing(results):  # closing: the threads end
        for i, result in zip(bar, results):
            record = {"index": i, "row": data.rows[i], **result.to_dict()}
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            fault_point("attack: example written")
            records.append(record)
            bar.set_postfix(success=sum(r["status"] == "successful" for r in records))
    summary = summarize(records, victim.precision)
    summary["recipe"] = attack.name
    if getattr(victim, "compiled", False):
        summary["compiled"] = True
    write_json(out / SUMMARY, summary)
    write_report(out / REPORT, summary, records, victim.label_names, f"{attack.name} attack on {data.origin}",
                 attack.segment)
    return summary
