#!/usr/bin/env bash
# Installs the Python baselines of `frontdesk bench retrieval` (bm25s) and `frontdesk bench classify`
# (scikit-learn) into bench/.venv.
# Needs python3 with venv and a C compiler (PyStemmer builds from source). Not used by CI.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet "bm25s==0.3.16" "PyStemmer==3.1.0" "scikit-learn==1.8.0"
.venv/bin/python -c 'import bm25s, Stemmer, sklearn; print("bm25s", bm25s.__version__, "and scikit-learn", sklearn.__version__, "ready in bench/.venv")'
