"""The Python side of `frontdesk bench retrieval`: bm25s over the same passages and questions.

Input (argv[1]): JSON {"passages": [{"article_id", "text"}], "questions": [{"question",
"article_ids"}], "k": passages per query, "rounds": repetitions}. Article ids of generated
copies look like "base~3"; a hit counts when the base id is right, as on the Rust side.
Output (stdout): one JSON object with build time, single-query latency, qps, hit@1, hit@5.
Queries run one at a time, as a support bot answers one message at a time.
"""
import json
import sys
import time

import bm25s
import Stemmer


def base(article_id):
    return article_id.split("~")[0]


def main():
    spec = json.load(open(sys.argv[1]))
    passages, questions, k, rounds = spec["passages"], spec["questions"], spec["k"], spec["rounds"]
    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    corpus_tokens = bm25s.tokenize([p["text"] for p in passages], stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    build_seconds = time.perf_counter() - started

    answerable = [q for q in questions if q["article_ids"]]
    latencies, hit1, hit5 = [], 0, 0
    for round_number in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            tokens = bm25s.tokenize([q["question"]], stopwords="en", stemmer=stemmer, show_progress=False)
            if len(tokens.vocab) == 0:
                results = []
            else:
                docs, _scores = retriever.retrieve(tokens, k=min(k, len(passages)), show_progress=False, n_threads=1)
                results = list(docs[0])
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if round_number == 0 and q["article_ids"]:
                ranked = []
                for index in results:
                    article = base(passages[int(index)]["article_id"])
                    if article not in ranked:
                        ranked.append(article)
                if ranked[:1] and ranked[0] in q["article_ids"]:
                    hit1 += 1
                if any(a in q["article_ids"] for a in ranked[:5]):
                    hit5 += 1
    latencies.sort()
    pct = lambda p: latencies[max(0, min(len(latencies) - 1, int(len(latencies) * p + 0.999) - 1))]
    print(json.dumps({
        "engine": f"bm25s {bm25s.__version__} (PyStemmer)",
        "build_seconds": build_seconds,
        "queries": len(latencies),
        "qps": len(latencies) / (sum(latencies) / 1000.0),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "hit_at_1": hit1 / max(1, len(answerable)),
        "hit_at_5": hit5 / max(1, len(answerable)),
    }))


if __name__ == "__main__":
    main()
