"""The Python side of `frontdesk bench classify`: TF-IDF + LogisticRegression from scikit-learn.

The recipe: word 1-2 grams and character 2-5 grams within word boundaries, both with
sublinear tf, side by side (a FeatureUnion), then LogisticRegression(C=10).

Input (argv[1]): JSON {"train": [[text, label]], "test": [[text, label]]}, labels "oos"/"none"
for out of scope (trained as a class, as is usual for this baseline on CLINC150).
Output (stdout): one JSON object: in-scope accuracy, out-of-scope recall, training time, and
per-message latency (messages predicted one at a time, as a bot receives them).
"""
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
import sklearn


def oos(label):
    return label.strip().lower() in ("oos", "none", "out_of_scope", "")


def main():
    spec = json.load(open(sys.argv[1]))
    train_x = [t for t, _ in spec["train"]]
    train_y = ["none" if oos(l) else l for _, l in spec["train"]]
    started = time.perf_counter()
    vectorizer = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
    ])
    features = vectorizer.fit_transform(train_x)
    model = LogisticRegression(C=10, max_iter=1000)
    model.fit(features, train_y)
    train_seconds = time.perf_counter() - started

    test = spec["test"]
    started = time.perf_counter()
    predictions = [model.predict(vectorizer.transform([text]))[0] for text, _ in test]
    ms_per_message = (time.perf_counter() - started) * 1000.0 / max(1, len(test))
    in_scope = [(p, l) for p, (_, l) in zip(predictions, test) if not oos(l)]
    out_scope = [(p, l) for p, (_, l) in zip(predictions, test) if oos(l)]
    rejected = [p for p in predictions if p == "none"]
    print(json.dumps({
        "engine": f"scikit-learn {sklearn.__version__} TF-IDF words 1-2 + chars 2-5, LogisticRegression C=10",
        "accuracy": sum(p == l for p, l in in_scope) / max(1, len(in_scope)),
        "oos_recall": sum(p == "none" for p, _ in out_scope) / max(1, len(out_scope)),
        "oos_precision": sum(1 for p, (_, l) in zip(predictions, test) if p == "none" and oos(l)) / max(1, len(rejected)),
        "train_seconds": train_seconds,
        "ms_per_message": ms_per_message,
    }))


if __name__ == "__main__":
    main()
