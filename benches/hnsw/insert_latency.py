"""Single-row INSERT latency into a table with an HNSW index: ember_hnsw
against pgvector's hnsw, and against the same table with no index.

A table of N rows (deterministic clustered vectors) per method, its index
built, then M single-row INSERTs (autocommit, one prepared statement, a
new vector each), in chunks of 100 that alternate between the methods so
that a change in the machine's load hits them alike. The latency is the
client's wall clock per INSERT (Unix socket). See README.md ("Single-row
INSERT latency").
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_hnsw import log, loadavg  # noqa: E402
from churn import clustered, clustered_base, common_args, connect, copy_rows, text  # noqa: E402

METHODS = {
    "no index (embedding)": ("embedding", None, None),
    "ember": ("embedding", "ember_hnsw", "embedding_l2_ops"),
    "pgvector": ("vector", "hnsw", "vector_l2_ops"),
}
CHUNK = 100


def table_of(method):
    return {"no index (embedding)": "ins_plain", "ember": "ins_ember", "pgvector": "ins_pgvector"}[method]


def prepare(conn, method, base, dim):
    typ, am, opclass = METHODS[method]
    table = table_of(method)
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id int, v {typ}({dim}))")
    copy_rows(conn, table, range(len(base)), base)
    conn.execute(f"VACUUM ANALYZE {table}")
    if am:
        t0 = time.perf_counter()
        conn.execute(f"CREATE INDEX ON {table} USING {am} (v {opclass}) WITH (m = 16, ef_construction = 64)")
        log(f"{method}: index on {len(base):,} rows built in {time.perf_counter() - t0:.1f} s")
    conn.execute("CHECKPOINT")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--inserts", type=int, default=2000)
    common_args(ap)
    args = ap.parse_args()
    load_start = loadavg()
    rng, centres, base = clustered_base(11, args.rows, args.dim)
    new = [text(v) for v in clustered(rng, args.inserts, args.dim, centres)]
    conn = connect(args.dbname)
    methods = [m for m in METHODS if not (args.no_pgvector and m == "pgvector")]
    if not args.no_pgvector:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for m in methods:
        prepare(conn, m, base, args.dim)
    latencies = {m: [] for m in methods}
    cur = conn.cursor()
    for start in range(0, args.inserts, CHUNK):
        for m in methods:
            sql = f"INSERT INTO {table_of(m)} (id, v) VALUES (%s, %s::{METHODS[m][0]})"
            for i in range(start, min(start + CHUNK, args.inserts)):
                t0 = time.perf_counter()
                cur.execute(sql, (args.rows + i, new[i]), prepare=True)
                latencies[m].append(time.perf_counter() - t0)
        if (start // CHUNK) % 5 == 4:
            log(f"{start + CHUNK:,} / {args.inserts:,} inserts per method")
    versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('ember', 'vector')").fetchall())
    for m in methods:
        conn.execute(f"DROP TABLE {table_of(m)}")
    print()
    print(f"Run: `{args.command or ' '.join(sys.argv)}`; load average {load_start} at the start, {loadavg()} at the end; "
          f"PostgreSQL {conn.info.server_version // 10000}, ember {versions.get('ember')}, pgvector {versions.get('vector', '-')}.")
    print(f"{args.rows:,} rows x {args.dim} (clustered, l2) indexed with m = 16, ef_construction = 64, then "
          f"{args.inserts:,} single-row INSERTs per method (autocommit, prepared, chunks of {CHUNK} alternating).")
    print()
    print("| method | median ms | mean ms | p90 ms | p99 ms | mean / ember's |")
    print("|---|---:|---:|---:|---:|---:|")
    ember_mean = np.mean(latencies["ember"])
    for m in methods:
        ms = np.array(latencies[m]) * 1e3
        print(f"| {m} | {np.median(ms):.3f} | {ms.mean():.3f} | {np.percentile(ms, 90):.3f} | "
              f"{np.percentile(ms, 99):.3f} | {ms.mean() / (ember_mean * 1e3):.2f}x |")


if __name__ == "__main__":
    main()
