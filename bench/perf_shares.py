#!/usr/bin/env python3
"""Shares of a `perf` profile of `frontdesk bench actions`, per thread and per function.

Record the bench's process while it runs, then read the samples:

    perf record -F 499 -p <pid> --call-graph dwarf,16384 -o fd.data -- sleep 5
    perf script -i fd.data -F comm,tid,ip,sym > fd.txt
    bench/perf_shares.py fd.txt                          # threads, and parts by innermost frame
    bench/perf_shares.py fd.txt --inclusive frontdesk-decid   # frontdesk functions, inclusive
    bench/perf_shares.py fd.txt --under 'Model::predict' frontdesk-decid  # what runs inside one

Threads: `frontdesk-decid` (decisions and the outbox), `tokio-rt-worker` (the webhook
servers), `frontdesk-inbox` (the SQLite writer), `bench-harness` (the bench's client and
fake Intercom, not counted in frontdesk's figure).
"""
import collections
import re
import sys

PARTS = [
    ("kernel: scheduling", r"finish_task_switch|schedule|futex"),
    ("kernel: network", r"tcp_|ip_|sock_|__sys_sendto|__sys_recvfrom|inet_|skb|__napi|loopback"),
    ("kernel: other", r"^(irqentry|_raw_spin|exc_page|do_syscall|entry_SYSCALL|syscall_exit|asm_)"),
    ("language detection", r"whatlang"),
    ("retrieval (tantivy, stemmer)", r"tantivy|frostem|fst"),
    ("PostgreSQL client", r"tokio_postgres|postgres_protocol|postgres_types|deadpool"),
    ("SQLite", r"sqlite3|rusqlite"),
    ("HTTP (hyper, reqwest, url)", r"hyper|reqwest|^http::|httparse|url::|idna"),
    ("JSON", r"serde_json|serde::"),
    ("tokio", r"tokio::"),
    ("the allocator", r"^(mi_|_mi_|malloc|free|_int_|__rust_alloc|__rust_dealloc|__rust_realloc)"),
    ("memory copies", r"memcpy|memmove|memset|memcmp|strlen"),
    ("the intent model", r"triage::model"),
    ("frontdesk, other", r"frontdesk::"),
]


def samples(path):
    current = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if current:
                yield current
            current = None
        elif not line.startswith((" ", "\t")):
            current = (line.split()[0], [])
        elif current is not None:
            parts = line.strip().split(" ", 1)
            frame = parts[1] if len(parts) > 1 else "?"
            frame = re.sub(r"::h[0-9a-f]{16}$", "", frame)
            frame = re.sub(r"\+0x[0-9a-f]+$", "", frame)
            current[1].append(frame)
    if current:
        yield current


def main(argv):
    path, rest = argv[1], argv[2:]
    all_samples = list(samples(path))
    threads = collections.Counter(comm for comm, _ in all_samples)
    print("samples per thread:", ", ".join(f"{c} {n}" for c, n in threads.most_common(6)))
    if rest[:1] == ["--inclusive"]:
        chosen = [f for c, f in all_samples if c.startswith(rest[1])]
        counts = collections.Counter()
        for frames in chosen:
            counts.update({f for f in frames if "frontdesk::" in f})
        for frame, n in counts.most_common(40):
            print(f"{100 * n / len(chosen):5.1f}%  {frame[:140]}")
    elif rest[:1] == ["--under"]:
        root, thread = rest[1], rest[2]
        inside = [f for c, f in all_samples if c.startswith(thread) and any(root in x for x in f)]
        print(f"{len(inside)} samples inside {root}; innermost frames:")
        for frame, n in collections.Counter(f[0] for f in inside if f).most_common(25):
            print(f"{n:5}  {frame[:140]}")
    else:
        for thread, _ in threads.most_common(4):
            chosen = [f for c, f in all_samples if c == thread]
            counts = collections.Counter()
            for frames in chosen:
                part = next(
                    (name for frame in frames for name, pattern in PARTS if re.search(pattern, frame)),
                    "other",
                )
                counts[part] += 1
            print(f"\n{thread} ({len(chosen)} samples), each given to the innermost part it is in:")
            for part, n in counts.most_common():
                print(f"{100 * n / len(chosen):5.1f}%  {part}")


if __name__ == "__main__":
    main(sys.argv)
