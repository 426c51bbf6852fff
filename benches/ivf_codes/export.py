"""Exports the two data sets of `--bench ivf_codes` as raw little-endian files.

    .venv-bench/bin/python benches/ivf_codes/export.py [--out /var/tmp/ember-bench/raw]

For each data set NAME it writes NAME-base.f32 (rows x dims float32),
NAME-queries.f32 (1000 x dims float32), NAME-gt.i64 (1000 x 10 int64, row
numbers into the base) and NAME.txt ("rows dims metric"). The splits are
the ones of benches/hnsw/bench_hnsw.py (and the SQL IVF benchmark), so the
cached ground truth applies:

- wordnet: WordNet 3.0 glosses encoded by all-MiniLM-L6-v2 (384-d, unit
  length, cosine); every 117th gloss held out as a query (holdout_split).
- fashion-mnist: 60,000 training images (784-d pixels, l2); the first 1,000
  test images as queries.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hnsw"))
from bench_hnsw import holdout_split, read_idx_images  # noqa: E402  (the same splits and loader)

CACHE = "/var/tmp/ember-bench"
WORDNET = "wordnet-all-MiniLM-L6-v2-ma8e612db2b63-t086215fa0b43"
FASHION = "/usr/share/datasets/fashion-mnist"


def write(out, name, base, queries, gt, metric):
    assert gt.shape == (len(queries), 10) and gt.max() < len(base)
    base.astype("<f4").tofile(os.path.join(out, f"{name}-base.f32"))
    queries.astype("<f4").tofile(os.path.join(out, f"{name}-queries.f32"))
    gt.astype("<i8").tofile(os.path.join(out, f"{name}-gt.i64"))
    with open(os.path.join(out, f"{name}.txt"), "w") as f:
        f.write(f"{len(base)} {base.shape[1]} {metric}\n")
    print(f"{name}: {base.shape[0]} x {base.shape[1]} base, {len(queries)} queries, {metric}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(CACHE, "raw"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    vecs = np.load(os.path.join(CACHE, f"{WORDNET}.npy"))
    base_idx, q_idx = holdout_split(len(vecs), 1000)
    gt = np.load(os.path.join(CACHE, f"{WORDNET}-rows{len(base_idx)}-q1000-gt.npy"))
    write(args.out, "wordnet", vecs[base_idx], vecs[q_idx], gt, "cosine")

    base = read_idx_images(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))
    queries = read_idx_images(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))[:1000]
    gt = np.load(os.path.join(CACHE, f"fashion-mnist-rows{len(base)}-q1000-gt.npy"))
    write(args.out, "fashion-mnist", base, queries, gt, "l2")


if __name__ == "__main__":
    main()
