"""Index size and recall under updates: ember_hnsw against pgvector's hnsw.

A table of N rows (deterministic clustered vectors), an index, then ROUNDS
rounds of: UPDATE a fraction of the rows to new vectors, VACUUM. After
each round the index's pages; at the end recall@10 of 200 queries by index
scan against the exact top 10 of the table as it is, and the same after a
REINDEX. Both methods get the same rows, updates and queries, one method
after the other. See README.md ("Updates and VACUUM").
"""
import argparse
import io
import os
import sys
import time

import numpy as np
import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_hnsw import log, loadavg  # noqa: E402

METHODS = {
    "ember": ("embedding", "ember_hnsw", "embedding_l2_ops", "ember.hnsw_ef_search"),
    "pgvector": ("vector", "hnsw", "vector_l2_ops", "hnsw.ef_search"),
}


def clustered(rng, n, dim, centres):
    """Rows around `centres` (a Gaussian mixture), float32."""
    pick = rng.integers(0, len(centres), n)
    return (centres[pick] + 0.35 * rng.standard_normal((n, dim))).astype(np.float32)


def text(v):
    return "[" + ",".join(f"{x:.6g}" for x in v) + "]"


def common_args(ap):
    """The options every bench of this kind takes."""
    ap.add_argument("--dbname", default="hnsw_bench")
    ap.add_argument("--no-pgvector", action="store_true")
    ap.add_argument("--command", default="")


def clustered_base(seed, rows, dim):
    """The generator (for later draws), the 32 centres and `rows` rows."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((32, dim)).astype(np.float32)
    return rng, centres, clustered(rng, rows, dim, centres)


def connect(dbname):
    return psycopg.connect(f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname={dbname}",
                           autocommit=True)


def copy_rows(conn, table, ids, vecs):
    buf = io.StringIO()
    for i, v in zip(ids, vecs):
        buf.write(f"{i}\t{text(v)}\n")
    with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN") as cp:
        cp.write(buf.getvalue())


def pages(conn, index):
    return conn.execute(f"SELECT pg_relation_size('{index}') / 8192").fetchone()[0]


def recall(conn, table, typ, guc, ef, queries, current):
    conn.execute(f"SET {guc} = {ef}")
    hits = 0
    for q in queries:
        exact = np.argsort(((current - q) ** 2).sum(axis=1))[:10]
        got = [r[0] for r in conn.execute(
            f"SELECT id FROM {table} ORDER BY v <-> %s::{typ} LIMIT 10", (text(q),)).fetchall()]
        hits += len(set(got) & set(exact.tolist()))
    return hits / (10 * len(queries))


def run(conn, name, args, base, updates, queries):
    typ, am, ops, guc = METHODS[name]
    table, index = f"churn_{name}", f"churn_{name}_v"
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v {typ}({args.dim})) WITH (autovacuum_enabled = off)")
    copy_rows(conn, table, range(len(base)), base)
    conn.execute(f"VACUUM ANALYZE {table}")
    t = time.perf_counter()
    conn.execute(f"CREATE INDEX {index} ON {table} USING {am} (v {ops}) WITH (m = 16, ef_construction = 64)")
    log(f"{name}: built in {time.perf_counter() - t:.1f} s, {pages(conn, index):,} pages")
    current = base.copy()
    sizes = [pages(conn, index)]
    seconds = []
    for r, (ids, vecs) in enumerate(updates):
        t = time.perf_counter()
        conn.execute("CREATE TEMP TABLE upd (id int, v text)")
        copy_rows(conn, "upd", ids, vecs)
        conn.execute(f"UPDATE {table} t SET v = u.v::{typ} FROM upd u WHERE t.id = u.id")
        conn.execute("DROP TABLE upd")
        conn.execute(f"VACUUM {table}")
        seconds.append(time.perf_counter() - t)
        current[ids] = vecs
        sizes.append(pages(conn, index))
        log(f"{name}: round {r + 1}/{len(updates)}: {len(ids):,} rows updated, VACUUM, "
            f"{sizes[-1]:,} pages ({seconds[-1]:.1f} s)")
    rec = recall(conn, table, typ, guc, args.ef, queries, current)
    conn.execute(f"REINDEX INDEX {index}")
    rebuilt = pages(conn, index)
    rec_rebuilt = recall(conn, table, typ, guc, args.ef, queries, current)
    log(f"{name}: recall@10 {rec:.4f} at ef_search {args.ef} ({rec_rebuilt:.4f} after REINDEX, {rebuilt:,} pages)")
    conn.execute(f"DROP TABLE {table}")
    return {"sizes": sizes, "seconds": seconds, "recall": rec, "rebuilt": rebuilt, "recall_rebuilt": rec_rebuilt}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=0.25, help="rows updated per round")
    ap.add_argument("--ef", type=int, default=40)
    common_args(ap)
    args = ap.parse_args()
    load_start = loadavg()
    rng, centres, base = clustered_base(7, args.rows, args.dim)
    per_round = int(args.rows * args.fraction)
    updates = [(np.sort(rng.choice(args.rows, per_round, replace=False)), clustered(rng, per_round, args.dim, centres))
               for _ in range(args.rounds)]
    queries = clustered(rng, 200, args.dim, centres)
    conn = connect(args.dbname)
    methods = ["ember"] + ([] if args.no_pgvector else ["pgvector"])
    if not args.no_pgvector:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    results = {m: run(conn, m, args, base, updates, queries) for m in methods}
    versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('ember', 'vector')").fetchall())
    print()
    print(f"Run: `{args.command or ' '.join(sys.argv)}`; load average {load_start} at the start, {loadavg()} at the end; "
          f"PostgreSQL {conn.info.server_version // 10000}, ember {versions.get('ember')}, pgvector {versions.get('vector', '-')}.")
    print(f"{args.rows:,} rows x {args.dim} (clustered, l2), m = 16, ef_construction = 64; {args.rounds} rounds of "
          f"UPDATE {per_round:,} rows + VACUUM.")
    print()
    print("| round | " + " | ".join(f"{m} pages" for m in methods) + " |")
    print("|---:|" + "---:|" * len(methods))
    for r in range(args.rounds + 1):
        print(f"| {'built' if r == 0 else r} | " + " | ".join(f"{results[m]['sizes'][r]:,}" for m in methods) + " |")
    print(f"| after REINDEX | " + " | ".join(f"{results[m]['rebuilt']:,}" for m in methods) + " |")
    print()
    print(f"| | " + " | ".join(methods) + " |")
    print("|---|" + "---:|" * len(methods))
    print(f"| recall@10 after the rounds (ef_search {args.ef}) | " + " | ".join(f"{results[m]['recall']:.4f}" for m in methods) + " |")
    print(f"| recall@10 after REINDEX | " + " | ".join(f"{results[m]['recall_rebuilt']:.4f}" for m in methods) + " |")
    print(f"| seconds per round (UPDATE + VACUUM), mean | " + " | ".join(f"{np.mean(results[m]['seconds']):.1f}" for m in methods) + " |")


if __name__ == "__main__":
    main()
