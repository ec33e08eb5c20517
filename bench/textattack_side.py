"""TextAttack's side of ``bench/textattack_compare.py``: run in TextAttack's own virtual environment.

Do not run this by hand: the comparison driver writes a job file and calls
``.venv-textattack/bin/python bench/textattack_side.py JOB.json RESULT.json`` (``--textattack-python``). It never imports
robustune (that lives beside transformers 5, TextAttack beside transformers 4). The victim is the
robustune model directory the driver attacks, loaded here with transformers 4 as a
``PreTrainedModel`` (:func:`load_robustune_model`: the BERT encoder from ``bert.*``, robustune's
masked mean pooling and linear head from ``head.*``), so that TextAttack wraps it as users wrap a
Hugging Face classifier:

* ``stock``: TextAttack's ``HuggingFaceModelWrapper`` as it is -- it pads every text to the
  tokenizer's ``model_max_length`` (512 for MiniLM);
* ``dynamic``: the same wrapper padding each batch to its longest text only (its best case).

The driver checks that this model's probabilities equal robustune's fp32 ones on the attacked rows
(``max_abs_diff`` in the result). Batches are TextAttack's (its goal function's default, 32 texts).

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
  robustune's built MLM (``robustune mlm build``) with the driver's ``--textattack-mlm-candidates``
  (TextAttack 0.3.11's default, 8, unless set; the paper and robustune use 48), and ``SBERT``
  MiniLM cosine >= 0.8 against the original in place of USE cosine >= 0.2.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import sys
import time

import numpy as np


def load_robustune_model(directory: str):
    """A robustune model directory as a transformers-4 ``PreTrainedModel`` returning ``.logits``."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, PreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    config = AutoConfig.from_pretrained(directory)
    settings = config.robustune
    if settings["head"]["hidden"] is not None or settings["pooling"] != "mean" or settings.get("knn"):
        raise SystemExit(f"{directory}: only a mean-pooled single-linear-head model is rebuilt here")

    class RobustuneClassifier(PreTrainedModel):
        config_class = type(config)
        base_model_prefix = "bert"

        def __init__(self, config):
            super().__init__(config)
            self.bert = AutoModel.from_config(config, add_pooling_layer=False)
            self.classifier = torch.nn.Linear(config.hidden_size, len(settings["label_names"]))

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state  # (B, T, D)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): robustune's masked mean
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
            return SequenceClassifierOutput(logits=self.classifier(pooled))

    model = RobustuneClassifier(config)
    state = load_file(f"{directory}/model.safetensors")
    weights = {k: v for k, v in state.items() if k.startswith("bert.")}
    weights.update({k.replace("head.classifier.", "classifier."): v for k, v in state.items()
                    if k.startswith("head.classifier.")})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or len(weights) != len(state):
        raise SystemExit(f"{directory}: weights not rebuilt (missing {missing[:3]}, "
                         f"left {sorted(set(state) - set(weights))[:3]})")
    return model.eval()


def make_model_wrapper(directory: str, kind: str):
    """TextAttack's ``HuggingFaceModelWrapper`` (``stock``) or one padding to the batch's longest
    text (``dynamic``), counting the texts it scores, its forwards and the seconds inside them."""
    import torch
    from transformers import AutoTokenizer
    from textattack.models.wrappers import HuggingFaceModelWrapper

    class Counting(HuggingFaceModelWrapper):
        texts_scored, forwards, seconds = 0, 0, 0.0

        def __call__(self, text_input_list):
            start = time.perf_counter()
            out = self.forward(list(text_input_list))
            self.seconds += time.perf_counter() - start
            self.texts_scored += len(text_input_list)
            self.forwards += 1
            return out

        def forward(self, texts):
            return super().__call__(texts)

    class Dynamic(Counting):
        def forward(self, texts):
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.tokenizer.model_max_length,
                                   return_tensors="pt")
            with torch.no_grad():
                return self.model(**batch).logits

    wrapper = {"stock": Counting, "dynamic": Dynamic}[kind]
    return wrapper(load_robustune_model(directory), AutoTokenizer.from_pretrained(directory))


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
                                      max_candidates=job["mlm_candidates"])
    constraints = [RepeatModification(), StopwordModification(), MaxWordsPerturbed(max_percent=0.4), sbert(job["encoder"])]
    return Attack(UntargetedClassification(model), constraints, transformation, GreedyWordSwapWIR(wir_method="unk"))


BUILDERS = {"deepwordbug": build_deepwordbug, "textfooler": build_textfooler, "bert-attack": build_bert_attack}


def agreement(model, texts: list[str], expected: list[list[float]]) -> float:
    """Largest difference between the wrapper's probabilities and robustune's fp32 ones."""
    import torch

    probs = torch.softmax(torch.as_tensor(np.asarray(model.forward(texts)), dtype=torch.float32), -1).numpy()
    return float(np.abs(probs - np.asarray(expected)).max())


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
    model = make_model_wrapper(job["model"], job["wrapper"])
    check = job["check"]
    max_abs_diff = agreement(model, check["texts"], check["probs"])
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
    out = {"versions": {p: version(p) for p in ("textattack", "torch", "transformers", "sentence-transformers")},
           "torch_threads": torch.get_num_threads(), "wrapper": job["wrapper"], "max_abs_diff": max_abs_diff,
           "use_cache": attack.goal_function.use_cache, "attack": str(attack), "records": records}
    json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main()
