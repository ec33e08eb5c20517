"""Load a model saved by ``robustune train`` and use it from Python.

    python examples/use_model.py runs/demo
"""

import sys

from robustune import RobustClassifier

model = RobustClassifier.from_pretrained(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
texts = [
    "a gripping, beautifully acted film that stays with you",
    "a tedious, predictable mess with nothing to say",
]
for text, label, probs in zip(texts, model.predict(texts), model.predict_proba(texts)):
    shown = ", ".join(f"{name} {p:.3f}" for name, p in zip(model.label_names, probs))
    print(f"{label:>9}  ({shown})  {text}")
print("\nFrom the shell: robustune predict --model runs/demo --data my_texts.csv --output preds.jsonl")
