#!/bin/sh
# Runs llama.cpp's own converter (convert_hf_to_gguf.py of the exact llama.cpp commit bundled in
# node_modules/node-llama-cpp 3.21.1) on a model directory, as an independent check of our export.
# Not part of the test suite. Needs Debian packages (PyPI is unreachable):
#   apt-get install -y --no-install-recommends python3-torch python3-numpy python3-yaml python3-tqdm python3-sentencepiece
# plus the two stand-ins beside this script (transformers is in neither Debian nor npm).
# Usage: tests/export/llamacpp_converter/convert.sh MODEL_DIR OUT.gguf
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git clone -q "$root/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$src/llama.cpp"
PYTHONPATH="$here:$src/llama.cpp/gguf-py" /usr/bin/python3 "$src/llama.cpp/convert_hf_to_gguf.py" \
  "$1" --outfile "$2" --outtype f32
