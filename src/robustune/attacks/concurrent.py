"""Attack several examples at once, their victim queries scored together in shared forwards.

One greedy search sends the victim a few texts at a time (deepwordbug: about 4 per word), and on a
CPU a bf16 forward costs 1.6–2.5× as much per text in batches of 4 as in batches of 128. :func:`attack_many` runs
``concurrency`` searches side by side, each in a thread of its own, and lets the victim run only
when every running search is waiting for scores: then the texts of all of them go through one
call of the victim (sorted by length and cut into its batches, as always), and each search gets
its own rows back. The searches themselves are unchanged.

How it stays deterministic and light on a CPU:

* Only one search runs at a time (they take turns holding one lock and hand it over while they wait
  for scores), so the substitute generators and constraints that run models of their own (a masked
  LM, a sentence encoder) never compete for the cores, and no search sees another half-done.
* A round of scoring waits for a request from every search still running, and concatenates them in
  the examples' order. Which examples are in a round depends only on how many queries each one
  needed before it, not on which thread got the lock first, so the same run gives the same batches
  and the same results. The batches do differ from a one-at-a-time run's; on the bf16 fast path that
  can move a probability in its last bits and, rarely, the search's path; every reported flip is
  still the fp32 model's (``Goal.confirm``).
* The fp32 checks of several searches share forwards too (a round scores the fast and the exact
  requests in a call each).

Accounting per example: ``queries`` are the example's own texts, as before; ``forwards`` and
``victim_seconds`` are its share of the shared forwards (by its share of their texts), and
``seconds`` is its share of the wall time (each stretch of time split evenly among the examples
running during it), so that the sums over a run are the run's forwards and wall time.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

import numpy as np

from .victim import Victim

FAST, EXACT = "fast", "exact"
# Searches side by side by default: on a 2-core CPU, 1, 8, 32 and 64 of them side by side attack 100
# SST-2 rows ever faster, 64 (with victim batches of 128) about 1.9x faster than one at a time with
# deepwordbug (BENCHMARKS.md, "Attack speed against TextAttack"). A search's state is a few cached
# scores, so many cost little memory.
DEFAULT_CONCURRENCY = 64
# Texts per victim forward when attacking: bf16 on a CPU keeps getting cheaper per text up to 128.
ATTACK_BATCH_SIZE = 128


class _Aborted(Exception):
    """Another search failed: this one stops so that the error can be raised where the run waits."""


class Lane:
    """What one search sees as its victim: it scores texts through the shared rounds and keeps the
    example's own share of the forwards, the victim's time and the wall time."""

    def __init__(self, shared: "SharedVictim", order: int):
        victim = shared.victim
        self._shared = shared
        self.order = order  # the example's place in the run: a round concatenates lanes in this order
        self.label_names = victim.label_names
        self.precision = victim.precision
        self.forwards_per_query = victim.forwards_per_query
        self.has_fast_path = victim.has_fast_path
        self.forwards = 0.0
        self.seconds = 0.0  # of the victim's time
        self.wall = 0.0  # of the wall time

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self._shared.score(self, FAST, texts)

    def exact(self, texts: list[str]) -> np.ndarray:
        return self._shared.score(self, EXACT if self.has_fast_path else FAST, texts)

    def clock(self) -> float:
        """This example's share of the wall time so far (the attack's ``seconds`` reads it)."""
        return self._shared.clock(self)


class SharedVictim:
    """Rounds of scoring over the lanes of the running searches. Every method is called with
    ``self.turn`` held (the lock the searches take turns on)."""

    def __init__(self, victim: Victim, workers: int):
        self.victim = victim
        self.turn = threading.Condition()
        self.lanes: list[Lane] = []  # the running searches
        self.workers = workers  # threads that may still start a search: a round waits for them all
        self.pending: dict[Lane, tuple[str, list[str]]] = {}
        self.results: dict[Lane, np.ndarray] = {}
        self.error: BaseException | None = None
        self._last = time.perf_counter()

    def _tick(self) -> None:
        """Split the wall time since the last event evenly among the running searches."""
        now = time.perf_counter()
        for lane in self.lanes:
            lane.wall += (now - self._last) / len(self.lanes)
        self._last = now

    def clock(self, lane: Lane) -> float:
        self._tick()
        return lane.wall

    def open(self, order: int) -> Lane:
        self._tick()
        lane = Lane(self, order)
        self.lanes.append(lane)
        return lane

    def close(self, lane: Lane) -> None:
        self._tick()
        self.lanes.remove(lane)

    def retire(self) -> None:
        """A worker thread found no more examples: rounds stop waiting for it."""
        self.workers -= 1
        self._maybe_run()

    def score(self, lane: Lane, kind: str, texts: list[str]) -> np.ndarray:
        self.pending[lane] = (kind, list(texts))
        self._maybe_run()
        while lane not in self.results:
            if self.error is not None:
                raise _Aborted
            self.turn.wait()
        return self.results.pop(lane)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.turn.notify_all()

    def _maybe_run(self) -> None:
        # A search between examples holds the turn, so a worker without a running search is about
        # to start one: wait for its request too, unless it has retired.
        if self.pending and len(self.pending) == self.workers and self.error is None:
            try:
                self._run_round()
            except BaseException as error:  # the victim failed: every waiting search stops
                self.pending.clear()
                self.fail(error)
                raise
            self.turn.notify_all()

    def _run_round(self) -> None:
        self._tick()
        requests = sorted(self.pending.items(), key=lambda item: item[0].order)  # examples' order
        self.pending.clear()
        for kind in (FAST, EXACT):
            batch = [(lane, texts) for lane, (k, texts) in requests if k == kind]
            texts = [t for _, lane_texts in batch for t in lane_texts]
            if not texts:
                continue
            forwards, seconds = self.victim.forwards, self.victim.seconds
            scores = self.victim(texts) if kind == FAST else self.victim.exact(texts)  # (N, K)
            forwards, seconds = self.victim.forwards - forwards, self.victim.seconds - seconds
            start = 0
            for lane, lane_texts in batch:
                share = len(lane_texts) / len(texts)
                lane.forwards += forwards * share
                lane.seconds += seconds * share
                self.results[lane] = scores[start:start + len(lane_texts)]
                start += len(lane_texts)
        self._tick()


def attack_many(attack, victim: Victim, items: Iterable[tuple[str, int]],
                concurrency: int = DEFAULT_CONCURRENCY) -> Iterator:
    """``attack.attack(victim, text, label)`` for each ``(text, label)`` of ``items``, yielded in
    their order as each one is ready, with up to ``concurrency`` searches sharing the victim's
    forwards. ``concurrency=1`` attacks one example after another in this thread."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        for text, label in items:
            yield attack.attack(victim, text, label)
        return
    workers = min(concurrency, len(items))
    shared = SharedVictim(victim, workers)
    results: dict[int, object] = {}
    queue = iter(range(len(items)))

    def work() -> None:
        with shared.turn:
            try:
                while shared.error is None:
                    i = next(queue, None)
                    if i is None:
                        break
                    lane = shared.open(i)
                    try:
                        results[i] = attack.attack(lane, *items[i])
                    finally:
                        shared.close(lane)
                    shared.turn.notify_all()  # the run waits for results in order
            except _Aborted:
                pass
            except BaseException as error:  # noqa: BLE001 -- raised again in the caller's thread
                shared.fail(error)
            finally:
                try:
                    shared.retire()
                except BaseException:  # noqa: BLE001 -- the round's error is recorded already
                    pass
                shared.turn.notify_all()

    threads = [threading.Thread(target=work, daemon=True, name=f"robustune-attack-{k}") for k in range(workers)]
    for thread in threads:
        thread.start()
    try:
        for i in range(len(items)):
            with shared.turn:
                while i not in results and shared.error is None:
                    shared.turn.wait()
                if shared.error is not None:
                    raise shared.error
                result = results.pop(i)
            yield result
    finally:
        with shared.turn:  # finished, failed or stopped early: no search starts or waits any more
            shared.fail(shared.error or _Aborted())
        for thread in threads:
            thread.join()
