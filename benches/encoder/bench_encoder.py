"""ember embed() (through SQL) against sentence-transformers on the same
sentences, same machine, same run; plus the memory a second backend adds.

Throughput: texts per second for the whole corpus, (a) batched (ember: one
embed(text[]) call; sentence-transformers: encode(list, batch_size=32)),
(b) one text per call (ember: embed(text) per row in one SELECT;
sentence-transformers: encode(text) per text). Latency: median of single
short queries (ember: a full SQL round trip on a Unix socket).
"""
import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np
import psycopg
import torch
from sentence_transformers import SentenceTransformer

QUERY = "how do I reset my password"


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0])
    return out


def parse_vec(text):
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    texts = [line.rstrip("\n") for line in open(args.corpus) if line.strip()]
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    print(f"corpus: {len(texts)} sentences; torch threads {threads}", flush=True)

    st = SentenceTransformer(args.model, device="cpu")
    conn = psycopg.connect(f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname=ember_bench",
                           autocommit=True)
    conn.execute("DROP TABLE IF EXISTS corpus")
    conn.execute("CREATE TABLE corpus (id int, body text)")
    with conn.cursor().copy("COPY corpus FROM STDIN") as cp:
        for i, t in enumerate(texts):
            cp.write_row((i, t))
    conn.execute("SELECT embed('warm up')")
    st.encode(["warm up"])

    print("fidelity check ...", flush=True)
    ours = [parse_vec(r[0]) for r in conn.execute("SELECT embed(body)::text FROM corpus ORDER BY id LIMIT 200")]
    ref = st.encode(texts[:200], normalize_embeddings=True)
    cos = [float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(ours, ref)]

    print("batch throughput ...", flush=True)
    t_st_batch = timed(lambda: st.encode(texts, batch_size=32), repeat=2)
    t_em_batch = timed(lambda: conn.execute("SELECT count(*) FROM unnest(embed((SELECT array_agg(body) FROM corpus)))"), repeat=2)
    print("one-at-a-time throughput ...", flush=True)
    sub = texts[:500]
    t_st_single = timed(lambda: [st.encode(t) for t in sub])
    t_em_single = timed(lambda: conn.execute("SELECT count(embed(body)) FROM corpus WHERE id < 500"))
    print("short query latency ...", flush=True)
    lat_st, lat_em = [], []
    for _ in range(100):
        lat_st.append(timed(lambda: st.encode(QUERY)))
        lat_em.append(timed(lambda: conn.execute("SELECT embed(%s)", (QUERY,)).fetchone()))

    print("memory of a second backend ...", flush=True)
    first_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    second = psycopg.connect(conn.info.dsn, autocommit=True)
    pid = second.execute("SELECT pg_backend_pid()").fetchone()[0]
    before = rss_kib(pid)
    second.execute("SELECT embed('a second backend loads the model')")
    after = rss_kib(pid)
    first = rss_kib(first_pid)
    second.close()

    rows = [
        ("batch (2,000 texts)", len(texts) / t_em_batch, len(texts) / t_st_batch),
        ("one text per call (500 texts)", len(sub) / t_em_single, len(sub) / t_st_single),
    ]
    med_em, med_st = statistics.median(lat_em) * 1e3, statistics.median(lat_st) * 1e3
    lines = [
        "# Encoder: ember embed() vs sentence-transformers",
        "",
        f"Date {datetime.date.today()}; CPU {cpu_model()}, {threads} vCPU; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); model all-MiniLM-L6-v2 (max 256 tokens).",
        f"Corpus: {len(texts)} WordNet noun glosses (Debian wordnet-base). Run: `benches/encoder/run.sh`.",
        "ember is measured through SQL (psycopg, Unix socket), so its numbers include the query round trip.",
        "",
        "| workload | ember texts/s | sentence-transformers texts/s | ember / PyTorch |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {a:.0f} | {b:.0f} | {a / b:.2f}x |" for name, a, b in rows]
    lines += [
        f"| short query latency (median of 100) | {med_em:.2f} ms | {med_st:.2f} ms | {med_st / med_em:.2f}x |",
        "",
        f"Fidelity on the first 200 sentences: min cosine {min(cos):.6f}, mean {statistics.mean(cos):.6f}.",
        "",
        "Memory of a second backend (kB, /proc/PID/status) before and after its first embed():",
        "",
        "| | VmRSS | RssAnon (private) | RssFile (page cache, shared) |",
        "|---|---:|---:|---:|",
        f"| second backend before | {before['VmRSS']} | {before['RssAnon']} | {before['RssFile']} |",
        f"| second backend after | {after['VmRSS']} | {after['RssAnon']} | {after['RssFile']} |",
        f"| added | {after['VmRSS'] - before['VmRSS']} | {after['RssAnon'] - before['RssAnon']} | {after['RssFile'] - before['RssFile']} |",
        f"| first backend (after the benchmark) | {first['VmRSS']} | {first['RssAnon']} | {first['RssFile']} |",
        "",
        "The weights (87 MiB) are memory-mapped: they count in RssFile, shared through the page cache",
        "by every backend; RssAnon is what each backend adds privately.",
    ]
    text = "\n".join(lines) + "\n"
    open(args.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
