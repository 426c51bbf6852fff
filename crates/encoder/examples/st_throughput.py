#!/usr/bin/env python3
"""sentence-transformers counterpart of examples/throughput.rs (PyTorch, CPU).

HF_HUB_OFFLINE=1 /tmp/st-venv/bin/python examples/st_throughput.py MODEL_DIR SENTENCES_FILE [N]
"""
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

model_dir, path = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
texts = [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()][:n]
model = SentenceTransformer(model_dir, device="cpu")
print("torch", torch.__version__, "threads", torch.get_num_threads())
model.encode(texts[:32])
t = time.perf_counter()
model.encode(texts, batch_size=32)
batch = time.perf_counter() - t
print(f"batch: {len(texts)} texts in {batch:.3f} s = {len(texts) / batch:.1f} texts/s")
t = time.perf_counter()
for s in texts:
    model.encode([s])
single = time.perf_counter() - t
print(f"one at a time: {single:.3f} s = {len(texts) / single:.1f} texts/s, {single * 1e3 / len(texts):.2f} ms per text")
