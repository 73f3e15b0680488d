#!/usr/bin/env bash
# On the GPU host, from the repository root, with bench/gpu/.data/minilm-fp16 carried (made by prepare_minilm.py):
exec python3 "$(dirname "$0")/embed_server_bench.py" --minilm "$(dirname "$0")/.data/minilm-fp16" "$@"
