"""TextAttack's side of ``bench/textattack_compare.py``: run in TextAttack's own virtual environment.

Do not run this by hand: the comparison driver writes a job file and calls
``/work/ta-venv/bin/python bench/textattack_side.py JOB.json RESULT.json``. It never imports
robustune (that lives beside transformers 5, TextAttack beside transformers 4). The victim is
robustune's: :class:`ServerModelWrapper` sends TextAttack's batches (its goal function's default,
32 texts) to ``bench/victim_server.py``, which runs in robustune's venv.

Recipes (TextAttack 0.3.11's own classes; where a part needs a download, it is fed the offline
resource robustune uses, and the difference is named here):

* ``deepwordbug``: ``DeepWordBugGao2018.build`` unchanged. Its ``StopwordModification()`` reads
  nltk's English stop-word list, which cannot be downloaded; the driver writes scikit-learn's list
  (the one robustune uses) under ``NLTK_DATA`` instead.
* ``textfooler``: ``TextFoolerJin2019``'s components, with (1) GloVe 6B 50d as robustune loads it
  (the 50,000 most frequent alphabetic words, unit vectors) in place of counter-fitted paragram
  vectors, for both ``WordSwapEmbedding(50)`` and ``WordEmbeddingDistance(0.5)``; (2) the
  ``PartOfSpeech`` constraint (an nltk/flair tagger, not available offline) replaced by
  :class:`WordNetAgreement` (a neighbour must share a WordNet part of speech with the word and not
  be a WordNet antonym: robustune's offline stand-in for the tagger and for counter-fitting);
  (3) the Universal Sentence Encoder (TF-Hub) replaced by TextAttack's ``SBERT`` constraint with
  the bundled MiniLM, cosine >= 0.8 against the original over the whole text (robustune's setting,
  instead of USE angular 0.84 over a 15-word window).
* ``bert-attack``: ``BERTAttackLi2020``'s components with ``WordSwapMaskedLM("bert-attack")`` on
  robustune's built MLM (``robustune mlm build``) with 48 candidates (the paper's and robustune's
  top-k; TextAttack 0.3.11 lowered its default to 8 for speed; the driver's ``--textattack-mlm-candidates``
  sets it), and ``SBERT`` MiniLM cosine >= 0.8
  against the original in place of USE cosine >= 0.2.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import subprocess
import sys
import time

import numpy as np


class ServerModelWrapper:
    """TextAttack ``ModelWrapper``: texts -> (N, K) probabilities from the robustune victim server."""

    def __init__(self, command: list[str]):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        bufsize=1)
        self.model = self.process  # TextAttack's goal functions look at ``wrapper.model``'s class
        hello = json.loads(self.process.stdout.readline())
        self.label_names = hello["labels"]
        self.texts_scored = 0
        self.forwards = 0
        self.seconds = 0.0

    def request(self, texts: list[str], echo: bool = False) -> np.ndarray:
        self.process.stdin.write(json.dumps({"texts": texts, "echo": echo}) + "\n")
        self.process.stdin.flush()
        return np.asarray(json.loads(self.process.stdout.readline())["probs"], dtype=np.float32)

    def __call__(self, text_input_list: list[str]) -> np.ndarray:
        start = time.perf_counter()
        probs = self.request(list(text_input_list))  # (N, K)
        self.seconds += time.perf_counter() - start
        self.texts_scored += len(text_input_list)
        self.forwards += 1
        return probs

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def make_model_wrapper(command: list[str]):
    from textattack.models.wrappers import ModelWrapper

    class Wrapper(ServerModelWrapper, ModelWrapper):
        pass

    return Wrapper(command)


def wordnet_agreement():
    """A TextAttack constraint: same WordNet part of speech (when both are in WordNet), no antonym."""
    from nltk.corpus import wordnet
    from textattack.constraints import Constraint

    @functools.lru_cache(maxsize=100_000)
    def parts_of_speech(word):
        return frozenset("a" if s.pos() == "s" else s.pos() for s in wordnet.synsets(word))

    @functools.lru_cache(maxsize=100_000)
    def antonyms(word):
        return frozenset(n.lower() for s in wordnet.synsets(word) for lemma in s.lemmas()
                         for anti in lemma.antonyms() for n in anti.synset().lemma_names())

    class WordNetAgreement(Constraint):
        def __init__(self):
            super().__init__(compare_against_original=True)

        def _check_constraint(self, transformed_text, reference_text):
            for i in transformed_text.attack_attrs["newly_modified_indices"]:
                old, new = reference_text.words[i].lower(), transformed_text.words[i].lower()
                mine, theirs = parts_of_speech(old), parts_of_speech(new)
                if new in antonyms(old) or (mine and theirs and not mine & theirs):
                    return False
            return True

    return WordNetAgreement()


def glove_embedding(vectors_path: str, words_path: str):
    """GloVe as a TextAttack ``WordEmbedding``, without a precomputed neighbour table.

    TextAttack 0.3.11's own path for that case (``nearest_neighbours`` with ``nn_matrix=None``)
    fails (``dist.topk(...)[1:].tolist()`` slices the (values, indices) pair), so this subclass does
    what it means: the ``topn`` nearest words by L2 distance, the word itself left out, cached per word.
    """
    import torch
    from textattack.shared import WordEmbedding

    class GloVe(WordEmbedding):
        def nearest_neighbours(self, index, topn):
            if index not in self._nn_cache:
                dist = torch.norm(self._tensor - self._tensor[index], dim=1)  # (V,)
                self._nn_cache[index] = dist.topk(topn + 1, largest=False).indices[1:].tolist()
            return self._nn_cache[index]

    matrix = np.load(vectors_path)  # (V, 50) unit vectors, robustune's load_glove()
    words = open(words_path, encoding="utf-8").read().split("\n")[:len(matrix)]
    embedding = GloVe(matrix, {w: i for i, w in enumerate(words)}, dict(enumerate(words)))
    embedding._tensor = torch.from_numpy(matrix)
    return embedding


def sbert(encoder: str):
    from textattack.constraints.semantics.sentence_encoders import SBERT

    return SBERT(threshold=0.8, metric="cosine", model_name=encoder, compare_against_original=True,
                 window_size=None)


def build_deepwordbug(model, job):
    from textattack.attack_recipes import DeepWordBugGao2018

    return DeepWordBugGao2018.build(model)


def build_textfooler(model, job):
    from textattack import Attack
    from textattack.constraints.pre_transformation import (InputColumnModification, RepeatModification,
                                                           StopwordModification)
    from textattack.constraints.semantics import WordEmbeddingDistance
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.transformations import WordSwapEmbedding

    embedding = glove_embedding(job["glove_vectors"], job["glove_words"])
    constraints = [RepeatModification(), StopwordModification(stopwords=textfooler_stopwords()),
                   InputColumnModification(["premise", "hypothesis"], {"premise"}),
                   WordEmbeddingDistance(embedding=embedding, min_cos_sim=0.5),
                   wordnet_agreement(), sbert(job["encoder"])]
    return Attack(UntargetedClassification(model), constraints, WordSwapEmbedding(max_candidates=50, embedding=embedding),
                  GreedyWordSwapWIR(wir_method="delete"))


def textfooler_stopwords() -> set[str]:
    """TextFoolerJin2019's own stop-word list, read from its source: it is a local of ``build``, and
    ``build`` itself cannot run offline (it loads the counter-fitted vectors first)."""
    from textattack.attack_recipes.textfooler_jin_2019 import TextFoolerJin2019

    source = inspect.getsource(TextFoolerJin2019.build)
    start = source.index("[", source.index("stopwords = set("))
    return set(ast.literal_eval(source[start:source.index("]", start) + 1]))


def build_bert_attack(model, job):
    from textattack import Attack
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.transformations import WordSwapMaskedLM

    transformation = WordSwapMaskedLM(method="bert-attack", masked_language_model=job["mlm"],
                                      max_candidates=job.get("mlm_candidates", 48))
    constraints = [RepeatModification(), StopwordModification(), MaxWordsPerturbed(max_percent=0.4), sbert(job["encoder"])]
    return Attack(UntargetedClassification(model), constraints, transformation, GreedyWordSwapWIR(wir_method="unk"))


BUILDERS = {"deepwordbug": build_deepwordbug, "textfooler": build_textfooler, "bert-attack": build_bert_attack}


def ipc_overhead(model, texts: list[str], repeats: int = 20) -> dict:
    """Milliseconds per round trip of one 32-text batch: pipe only (echo) and pipe + victim forward."""
    batch = (texts * 32)[:32]
    timings = {}
    for name, echo in (("echo_ms", True), ("forward_ms", False)):
        model.request(batch, echo)  # warm
        start = time.perf_counter()
        for _ in range(repeats):
            model.request(batch, echo)
        timings[name] = 1000 * (time.perf_counter() - start) / repeats
    return timings


def record(result, seconds: float, victim_seconds: float, scored: int, forwards: int) -> dict:
    from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult

    original = result.original_result.attacked_text
    perturbed = result.perturbed_result.attacked_text
    status = ("successful" if isinstance(result, SuccessfulAttackResult) else
              "skipped" if isinstance(result, SkippedAttackResult) else "failed")
    changed = original.all_words_diff(perturbed) if status == "successful" else set()
    return {"status": status, "adversarial": perturbed.text, "queries": result.perturbed_result.num_queries,
            "texts_scored": scored, "forwards": forwards, "seconds": seconds, "victim_seconds": victim_seconds,
            "perturbed_word_pct": 100.0 * len(changed) / max(len(original.words), 1)}


def main() -> None:
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    from importlib.metadata import version

    import textattack
    import torch

    textattack.shared.utils.set_seed(job["seed"])
    model = make_model_wrapper(job["server"])
    texts = [e["text"] for e in job["examples"]]
    overhead = ipc_overhead(model, texts)
    attack = BUILDERS[job["recipe"]](model, job)
    if not job.get("use_cache", True):  # every text the search asks for is sent to the victim, repeats included
        attack.goal_function.use_cache = False  # _call_model checks this flag before its LRU
    warm = job["warmup"]
    attack.attack(warm["text"], warm["label"])  # lazy loads out of the timings, as on robustune's side
    records = []
    # Each finished example is also appended to RESULT.records.jsonl, so that a run stopped by the
    # driver's --textattack-timeout is still measured on the examples it finished.
    with open(sys.argv[2] + ".records.jsonl", "w", encoding="utf-8") as partial:
        for example in job["examples"]:
            scored, forwards, in_victim = model.texts_scored, model.forwards, model.seconds
            start = time.perf_counter()
            result = attack.attack(example["text"], example["label"])
            records.append({"index": example["index"], **record(result, time.perf_counter() - start,
                                                                  model.seconds - in_victim, model.texts_scored - scored,
                                                                  model.forwards - forwards)})
            partial.write(json.dumps(records[-1]) + "\n")
            partial.flush()
    model.close()
    out = {"versions": {p: version(p) for p in ("textattack", "torch", "transformers", "sentence-transformers")},
           "torch_threads": torch.get_num_threads(),
           "use_cache": attack.goal_function.use_cache, "ipc": overhead, "attack": str(attack), "records": records}
    json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main()
