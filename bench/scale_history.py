#!/usr/bin/env python3
"""Writes a scaled copy of the sample history for `frontdesk replay` benchmarks:
python3 bench/scale_history.py COPIES OUT.jsonl

Each copy gets new conversation ids, and each customer message gets a different order number
in its text. No two messages are the same, so the draft cache cannot answer repeats.
"""

import json
import sys
from pathlib import Path

copies, out = int(sys.argv[1]), Path(sys.argv[2])
src = Path(__file__).resolve().parents[1] / "knowledge/history/conversations.jsonl"
rows = [json.loads(line) for line in src.open()]
n = 0
with out.open("w") as f:
    for copy in range(copies):
        for row in rows:
            row = json.loads(json.dumps(row))
            row["id"] = f"{row['id']}{copy:03d}"
            n += 1
            body = row["source"]["body"]
            row["source"]["body"] = body.replace("</p>", f" (order {2_000_000 + n})</p>", 1)
            for part in row["conversation_parts"]["conversation_parts"]:
                if part["author"]["type"] == "user" and part["body"]:
                    part["body"] = part["body"].replace("</p>", f" (ref {n})</p>", 1)
            f.write(json.dumps(row) + "\n")
print(f"wrote {n} conversations to {out}")
