"""Builds a second evaluation from MT-RAG-UN (Apache 2.0): help centers nobody here wrote.

Usage: python3 bench/mtrag.py [SHARED_DATA_DIR] OUT_DIR

Writes, from the `ibmcloud` (IBM Cloud documentation) and `govt` (US government pages)
collections of ../shared/data/mtrag-un/reference.jsonl:
- OUT_DIR/articles/*.md: one article per source document, one passage per reference span
  (a `##` heading each), titled by the document's first line. The reference spans of the
  other two collections (`fiqa`, personal-finance forum posts, and `clapnq`, Wikipedia)
  are added as articles too, as distractors: a larger, noisier help center;
- OUT_DIR/questions.jsonl: the last user turn of each task, in the `eval retrieval` format.
  ANSWERABLE and PARTIAL tasks name the documents of their reference passages; UNANSWERABLE
  ones have no article (`article_ids: []`); UNDERSPECIFIED ones are left out.

The questions are the benchmark's human-written ones, untouched: written before any of
frontdesk's retrieval was tuned, and never tuned on. Run:

    python3 bench/mtrag.py /tmp/mtrag
    FRONTDESK__KNOWLEDGE__DIR=/tmp/mtrag/articles ./target/release/frontdesk eval retrieval --questions /tmp/mtrag/questions.jsonl
    FRONTDESK__KNOWLEDGE__DIR=/tmp/mtrag/articles ./target/release/frontdesk eval drafting --questions /tmp/mtrag/questions.jsonl
"""
import json
import os
import re
import sys
from collections import OrderedDict

COLLECTIONS = ("ibmcloud", "govt")


def doc_of(document_id):
    # "ibmcld_15758-3961-6028" -> "ibmcld_15758": a span of one source document.
    parts = document_id.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else document_id


def safe(text):
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def clean(text):
    lines = [re.sub(r"\s+", " ", l).strip() for l in text.replace("\xa0", " ").splitlines()]
    return "\n".join(l for l in lines if l)


def main():
    args = sys.argv[1:]
    shared = args[0] if len(args) == 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    out = args[-1]
    rows = [json.loads(l) for l in open(os.path.join(shared, "mtrag-un", "reference.jsonl"))]
    docs = OrderedDict()
    questions = []
    for row in rows:
        kind = row["answerability"][0]
        if kind == "UNDERSPECIFIED":
            continue
        ids = []
        for context in row["contexts"]:
            doc = row["Collection"] + "-" + safe(doc_of(context["document_id"]))
            spans = docs.setdefault(doc, OrderedDict())
            spans.setdefault(context["document_id"], clean(context["text"]))
            if doc not in ids:
                ids.append(doc)
        if row["Collection"] not in COLLECTIONS:
            continue
        question = [t for t in row["input"] if t["speaker"] == "user"][-1]["text"]
        question = re.sub(r"\s+", " ", question.replace("\xa0", " ")).strip()
        questions.append({"question": question, "article_ids": [] if kind == "UNANSWERABLE" else ids})
    os.makedirs(os.path.join(out, "articles"), exist_ok=True)
    for doc, spans in docs.items():
        texts = [t for t in spans.values() if t]
        if not texts:
            continue
        title = texts[0].splitlines()[0][:120]
        body = []
        for i, text in enumerate(texts):
            if i > 0:
                body.append("## " + text.splitlines()[0][:120])
            body.append(text.replace("\n#", "\n"))
        with open(os.path.join(out, "articles", doc + ".md"), "w") as f:
            f.write("---\nid: %s\ntitle: %s\nurl: %s\n---\n%s\n" % (
                doc, json.dumps(title), json.dumps("https://example.org/" + doc), "\n\n".join(body)))
    with open(os.path.join(out, "questions.jsonl"), "w") as f:
        for q in questions:
            f.write(json.dumps(q) + "\n")
    answerable = sum(1 for q in questions if q["article_ids"])
    print("%d articles, %d questions (%d answerable, %d unanswerable) in %s" % (
        len(docs), len(questions), answerable, len(questions) - answerable, out))


if __name__ == "__main__":
    main()
