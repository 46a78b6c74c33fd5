#!/usr/bin/env bash
# Installs the Python BM25 baseline for `frontdesk bench retrieval` into bench/.venv.
# Needs python3 with venv and a C compiler (PyStemmer builds from source). Not used by CI.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet "bm25s==0.3.16" "PyStemmer==3.1.0"
.venv/bin/python -c 'import bm25s, Stemmer; print("bm25s", bm25s.__version__, "ready in bench/.venv")'
