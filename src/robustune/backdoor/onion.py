"""ONION-style outlier-word filter at inference (Qi et al., EMNLP 2021, arXiv 2011.10369).

For a text of words w_1..w_n, with p_0 its language-model perplexity and p_i the perplexity of the
text without w_i, the suspicion score of w_i is

    f_i = p_0 − p_i

(how much removing the word makes the text more fluent); words with f_i > t are removed before the
text reaches the classifier. Inserted rare trigger tokens ("cf", "bb") are such outliers.

Deviation from the paper: ONION uses GPT-2's perplexity; offline there is no causal LM here, so the
perplexity is a masked LM's **pseudo-perplexity** (Salazar et al., ACL 2020, arXiv 1910.14659):
PPPL(x) = exp(−1/|x| Σ_t log P(x_t | x without x_t)), each sub-token masked in turn. Any HF masked LM
works, e.g. the one ``robustune mlm build`` makes. It costs one forward per sub-token of every
variant (about n² sequences per text), batched across texts; filtered texts are cached. Words are whitespace-separated, as in
the paper. The threshold t (default 0, as in OpenBackdoor's ONION) is ``--onion-threshold``.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import RobustuneError


def pseudo_perplexity(token_log_probs: list[np.ndarray]) -> np.ndarray:
    """exp(−mean_t log P(x_t | x_\\t)) per sequence, from each sequence's (T,) masked log-probabilities."""
    return np.array([float(np.exp(-lp.mean())) if len(lp) else 1.0 for lp in token_log_probs])


def suspicion_scores(ppl_full: float, ppl_without: np.ndarray) -> np.ndarray:
    """f_i = p_0 − p_i for each word i; (n,)."""
    return ppl_full - np.asarray(ppl_without)


def keep_words(words: list[str], scores: np.ndarray, threshold: float) -> list[str]:
    """The words whose suspicion score is at most ``threshold`` (a one-word text is kept whole)."""
    if len(words) <= 1:
        return list(words)
    return [w for w, f in zip(words, scores) if f <= threshold]


class OnionFilter:
    """``filter(texts) -> texts`` with the outlier words removed, scored by a masked LM."""

    def __init__(self, mlm: str, threshold: float = 0.0, batch_size: int = 128, max_length: int = 64,
                 device: str = "cpu", progress: bool = False):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(mlm)
            self.model = AutoModelForMaskedLM.from_pretrained(mlm).to(device).eval()
        except (OSError, ValueError) as err:
            raise RobustuneError(f"--onion: cannot load masked LM {mlm!r}: {str(err).splitlines()[0]}") from None
        if self.tokenizer.mask_token_id is None:
            raise RobustuneError(f"--onion: {mlm!r} has no mask token; a masked LM is needed")
        self.threshold = threshold
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.progress = progress
        self._cache: dict[str, str] = {}  # text -> filtered text (evaluation filters some texts twice)

    @torch.inference_mode()
    def token_log_probs(self, texts: list[str]) -> list[np.ndarray]:
        """For each text, log P(x_t | x with x_t masked) of each of its non-special sub-tokens."""
        encoded = [self.tokenizer(t, truncation=True, max_length=self.max_length)["input_ids"] for t in texts]
        special = set(self.tokenizer.all_special_ids)
        # One masked copy per (text, position); sorted by length so that batches pad little.
        jobs = [(i, pos) for i, ids in enumerate(encoded) for pos, tok in enumerate(ids) if tok not in special]
        jobs.sort(key=lambda job: len(encoded[job[0]]))
        out = [np.zeros(sum(tok not in special for tok in ids), dtype=np.float64) for ids in encoded]
        slot = {}
        for i, ids in enumerate(encoded):
            positions = [p for p, tok in enumerate(ids) if tok not in special]
            slot.update({(i, p): k for k, p in enumerate(positions)})
        pad = self.tokenizer.pad_token_id
        for start in tqdm(range(0, len(jobs), self.batch_size), desc="onion", unit="batch", disable=not self.progress):
            chunk = jobs[start:start + self.batch_size]
            width = max(len(encoded[i]) for i, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)  # (b, T)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (i, pos) in enumerate(chunk):
                ids[row, :len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, :len(encoded[i])] = 1
            rows = torch.arange(len(chunk))
            positions = torch.tensor([pos for _, pos in chunk])
            originals = ids[rows, positions].clone()
            ids[rows, positions] = self.tokenizer.mask_token_id
            picked = torch.log_softmax(self._masked_logits(ids, mask, rows, positions).float(), dim=-1)  # (b, V)
            values = picked[rows, originals.to(picked.device)].cpu().numpy()
            for (i, pos), value in zip(chunk, values):
                out[i][slot[(i, pos)]] = value
        return out

    def _masked_logits(self, ids, mask, rows, positions) -> torch.Tensor:
        """(b, V) logits at the masked position of each row."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        head = getattr(self.model, "cls", None)
        if head is not None:  # BERT-style: project to the vocabulary at the masked positions only (T× less work)
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (b, T, D)
            return head(hidden[rows, positions])
        return self.model(input_ids=ids, attention_mask=mask).logits[rows, positions]

    def __call__(self, texts: list[str]) -> list[str]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            self._cache.update(zip(todo, self._filter(todo)))
        return [self._cache[t] for t in texts]

    def _filter(self, texts: list[str]) -> list[str]:
        words = [t.split() for t in texts]
        variants, owners = [], []
        for k, ws in enumerate(words):
            variants.append(" ".join(ws))
            owners.append(k)
            if len(ws) > 1:
                variants += [" ".join(ws[:i] + ws[i + 1:]) for i in range(len(ws))]
                owners += [k] * len(ws)
        ppl = pseudo_perplexity(self.token_log_probs(variants))
        owners = np.asarray(owners)
        filtered = []
        for k, ws in enumerate(words):
            mine = ppl[owners == k]  # (1 + n,) full text first, then without each word
            scores = suspicion_scores(mine[0], mine[1:])
            filtered.append(" ".join(keep_words(ws, scores, self.threshold)))
        return filtered
