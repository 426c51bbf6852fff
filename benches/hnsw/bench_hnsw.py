"""HNSW benchmark: ember_hnsw against pgvector's hnsw, hnswlib and faiss
IndexHNSWFlat on the same vectors, queries and ground truth, same machine.

Data set (default `wordnet`): 384-d all-MiniLM-L6-v2 embeddings of the WordNet
3.0 glosses (Debian wordnet-base, ~117k synsets), encoded with ember's
embed(text[]) in the server (or sentence-transformers with `--encoder st`),
cached as .npy under --cache keyed by the model and the text list. 1,000 held
out glosses are the queries; ground truth is the exact top-10 by cosine in
float64 numpy. `fashion-mnist` (Debian dataset-fashion-mnist, 60k x 784, l2)
is a second, optional set; `clustered` a third: a deterministic synthetic
Gaussian mixture (100k x --dim, l2) for dimensions no real set here has.

Per method (all with m=16, ef_construction=64): build time (SQL: COPY first,
then CREATE INDEX is timed), index size, then for each ef_search: recall@10
and single-client QPS (one connection / one thread, one query at a time,
a warm-up pass then a timed pass). The SQL methods use a prepared statement
`SELECT id FROM t ORDER BY v <=> $1::type LIMIT 10` with the query vector as
a text parameter. The exact scan (no index, enable_indexscan = off) is the
baseline.

Results of every method are also stored as JSON under --cache/results/, so an
`--only ember` run can report against the peers measured by an earlier run
(marked as such in the report).
"""
import argparse
import datetime
import gzip
import hashlib
import json
import math
import os
import platform
import re
import sys
import tempfile
import time

import numpy as np
import psycopg

EFS_DEFAULT = "10,20,40,80,120,200,400"
PEERS = ("pgvector", "hnswlib", "faiss")
T0 = time.perf_counter()


def log(msg):
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# --------------------------------------------------------------------------
# data sets


def wordnet_glosses(wn_dir):
    """Every synset's gloss (definition; "examples"), noun, verb, adj, adv in
    file order, exact duplicates removed (first kept)."""
    seen, texts = set(), []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(wn_dir, f"data.{pos}"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # licence header
                    continue
                _, _, gloss = line.partition(" | ")
                gloss = gloss.strip()
                if gloss and gloss not in seen:
                    seen.add(gloss)
                    texts.append(gloss)
    return texts


def holdout_split(n, nq):
    """Deterministic, evenly spread hold-out: every (n // nq)-th item."""
    step = n // nq
    q = np.arange(nq) * step + step // 2
    mask = np.ones(n, dtype=bool)
    mask[q] = False
    return np.nonzero(mask)[0], q


def sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h


def model_hash(model_dir):
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        p = os.path.join(model_dir, name)
        if os.path.exists(p):
            h.update(name.encode())
            sha256_file(p, h)
    return h.hexdigest()


def parse_vec(text):
    return np.array(text[1:-1].split(","), dtype=np.float32)


def encode_ember(conn, texts, batch=256):
    out = np.empty((len(texts), 0), dtype=np.float32)
    rows = []
    t0 = time.perf_counter()
    sql = "SELECT e::text FROM unnest(embed(%s::text[])) WITH ORDINALITY AS u(e, i) ORDER BY i"
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        got = [parse_vec(r[0]) for r in conn.execute(sql, (chunk,))]
        if len(got) != len(chunk):
            raise RuntimeError(f"embed(text[]) returned {len(got)} vectors for {len(chunk)} texts")
        rows.extend(got)
        done = start + len(chunk)
        if (start // batch) % 40 == 0 or done == len(texts):
            el = time.perf_counter() - t0
            log(f"  encoded {done:,} / {len(texts):,} texts ({done / el:.0f}/s, "
                f"~{(len(texts) - done) / max(done / el, 1e-9):.0f} s left)")
    out = np.vstack(rows)
    return out


def encode_st(model_dir, texts, batch=256):
    from sentence_transformers import SentenceTransformer  # only in --encoder st
    st = SentenceTransformer(model_dir, device="cpu")
    rows = []
    t0 = time.perf_counter()
    for start in range(0, len(texts), batch):
        rows.append(st.encode(texts[start:start + batch], batch_size=32, normalize_embeddings=True))
        done = min(start + batch, len(texts))
        if (start // batch) % 40 == 0 or done == len(texts):
            el = time.perf_counter() - t0
            log(f"  encoded {done:,} / {len(texts):,} texts ({done / el:.0f}/s)")
    return np.vstack(rows).astype(np.float32)


def load_wordnet(args, conn):
    texts = wordnet_glosses(args.wordnet)
    log(f"WordNet: {len(texts):,} distinct glosses from {args.wordnet}")
    th = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    log(f"hashing model files in {args.model}")
    mh = model_hash(args.model)
    key = f"wordnet-{os.path.basename(args.model.rstrip('/'))}-m{mh[:12]}-t{th[:12]}"
    path = os.path.join(args.cache, key + ".npy")
    if os.path.exists(path):
        vecs = np.load(path)
        meta = json.load(open(path[:-4] + ".json"))
        log(f"cached vectors {path} ({vecs.shape[0]:,} x {vecs.shape[1]}, encoded by {meta['encoder']})")
    else:
        log(f"encoding {len(texts):,} glosses with {args.encoder} (batches of 256); cache: {path}")
        t0 = time.perf_counter()
        vecs = encode_ember(conn, texts) if args.encoder == "ember" else encode_st(args.model, texts)
        el = time.perf_counter() - t0
        meta = {"encoder": args.encoder, "texts": len(texts), "seconds": round(el, 1),
                "model": args.model, "model_sha256": mh, "texts_sha256": th,
                "date": datetime.datetime.now().isoformat(timespec="seconds")}
        np.save(path + ".tmp.npy", vecs)
        os.replace(path + ".tmp.npy", path)
        json.dump(meta, open(path[:-4] + ".json", "w"), indent=1)
        log(f"encoded {len(texts):,} texts in {el:.0f} s ({len(texts) / el:.0f}/s)")
    norms = np.linalg.norm(vecs, axis=1)
    log(f"vector norms: min {norms.min():.6f} max {norms.max():.6f}")
    base_idx, q_idx = holdout_split(len(texts), args.queries)
    desc = (f"WordNet 3.0 glosses (Debian wordnet-base), all-MiniLM-L6-v2 384-d via "
            f"{meta['encoder']}; {args.queries:,} held-out glosses (every {len(texts) // args.queries}th) as queries")
    return vecs[base_idx], vecs[q_idx], "cosine", key, desc


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">i4")
    assert magic == 2051, path
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, rows * cols).astype(np.float32)


def load_fashion(args):
    d = args.fashion
    base = read_idx_images(os.path.join(d, "train-images-idx3-ubyte.gz"))
    queries = read_idx_images(os.path.join(d, "t10k-images-idx3-ubyte.gz"))[: args.queries]
    desc = f"Fashion-MNIST (Debian dataset-fashion-mnist), 784-d pixels, l2; first {args.queries:,} test images as queries"
    return base, queries, "l2", "fashion-mnist", desc


def load_clustered(args):
    """A deterministic Gaussian mixture: 1,000 centres, each cluster with its
    own spread and a few dominant directions, so that neighbourhoods have an
    uneven density rather than the uniform hardness of i.i.d. noise (unlike
    text embeddings, its points lie far from the data's centre compared with
    their neighbours). Queries are fresh draws from it."""
    d, n, nq, k = args.dim, 100_000, args.queries, 1000
    rng = np.random.default_rng(20261204)
    centres = rng.standard_normal((k, d)).astype(np.float32)
    spread = rng.uniform(0.3, 0.8, k).astype(np.float32)
    axes = rng.standard_normal((k, 8, d)).astype(np.float32) / np.sqrt(d)

    def draw(count):
        c = rng.integers(0, k, count)
        noise = rng.standard_normal((count, d)).astype(np.float32) * spread[c, None] * 0.5
        along = np.einsum("ij,ijd->id", rng.standard_normal((count, 8)).astype(np.float32) * 3, axes[c])
        return centres[c] + noise + along * spread[c, None]

    base, queries = draw(n), draw(nq)
    desc = (f"synthetic Gaussian mixture, {k:,} clusters of varying spread with 8 dominant directions each, "
            f"{d}-d, l2; {nq:,} fresh draws as queries")
    return base, queries, "l2", f"clustered{d}", desc


def ground_truth(base, queries, metric, k, cache_path):
    if os.path.exists(cache_path):
        return np.load(cache_path)
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    elif metric == "l2":
        bn = (b * b).sum(axis=1)
    gt = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), 100):
        sim = q[s:s + 100] @ b.T
        score = bn[None, :] - 2 * sim if metric == "l2" else -sim  # smaller is nearer
        part = np.argpartition(score, k, axis=1)[:, :k]
        order = np.take_along_axis(score, part, axis=1).argsort(axis=1, kind="stable")
        gt[s:s + 100] = np.take_along_axis(part, order, axis=1)
    np.save(cache_path, gt)
    return gt


def recall(results, gt, k=10):
    hits = sum(len(set(r[:k]) & set(g[:k].tolist())) for r, g in zip(results, gt))
    return hits / (k * len(gt))


# --------------------------------------------------------------------------
# SQL methods

SQL = {
    "pgvector": {"type": "vector", "ef_guc": "hnsw.ef_search", "am": "hnsw",
                 "opclass": {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops", "ip": "vector_ip_ops"}},
    "ember": {"type": "embedding", "ef_guc": "ember.hnsw_ef_search", "am": "ember_hnsw",
              "opclass": {"cosine": "embedding_cosine_ops", "l2": "embedding_l2_ops", "ip": "embedding_ip_ops"}},
}
OPS = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}


def vec_text(v):
    return "[" + ",".join(map("{:.9g}".format, v.tolist())) + "]"


def load_table(conn, table, typ, base):
    dim = base.shape[1]
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id int NOT NULL, v {typ}({dim}) NOT NULL)")
    t0 = time.perf_counter()
    with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN") as cp:
        buf = []
        for i, v in enumerate(base):
            buf.append(f"{i}\t{vec_text(v)}\n")
            if len(buf) == 2000:
                cp.write("".join(buf))
                buf = []
                if (i + 1) % 20000 == 0:
                    log(f"  COPY {table}: {i + 1:,} / {len(base):,} rows")
        if buf:
            cp.write("".join(buf))
    conn.execute(f"VACUUM (ANALYZE) {table}")
    conn.execute("CHECKPOINT")
    size = conn.execute(f"SELECT pg_table_size('{table}')").fetchone()[0]
    log(f"  loaded {len(base):,} rows into {table} in {time.perf_counter() - t0:.1f} s "
        f"({size / 2**20:.0f} MiB), VACUUM ANALYZE, CHECKPOINT")


def explain(conn, sql, qtext):
    lit = "'" + qtext + "'"
    rows = conn.execute("EXPLAIN (COSTS OFF) " + sql.replace("%s", lit)).fetchall()
    plan = "\n".join(r[0] for r in rows)
    return re.sub(r"'\[[^']*\]'", "'<query>'", plan)


PASSES = 1


def timed_passes(fn):
    """The fastest of PASSES timed passes (each returns (seconds, results))."""
    return min((fn() for _ in range(PASSES)), key=lambda x: x[0])


def sql_pass(conn, sql, qtexts):
    cur = conn.cursor()
    res = []
    t0 = time.perf_counter()
    for q in qtexts:
        cur.execute(sql, (q,), prepare=True)
        res.append([r[0] for r in cur.fetchall()])
    return time.perf_counter() - t0, res


def run_exact(conn, name, table, typ, metric, qtexts, gt, warm):
    sql = f"SELECT id FROM {table} ORDER BY v {OPS[metric]} %s::{typ} LIMIT 10"
    conn.execute("SET enable_indexscan = off")
    plan = explain(conn, sql, qtexts[0])
    if "Index Scan" in plan:
        raise RuntimeError(f"{name}: exact scan plan uses an index:\n{plan}")
    log(f"{name}: plan:\n    " + plan.replace("\n", "\n    "))
    sql_pass(conn, sql, qtexts[:warm])
    el, res = timed_passes(lambda: sql_pass(conn, sql, qtexts))
    conn.execute("RESET enable_indexscan")
    r = recall(res, gt)
    log(f"{name}: {len(qtexts) / el:.1f} QPS, recall@10 {r:.4f}")
    return {"method": name, "build_s": None, "size_bytes": None, "plan": plan,
            "points": [{"ef": None, "recall": r, "qps": len(qtexts) / el}]}


def build_sql_index(conn, conn_str, name, table, metric, qtexts, m, efc):
    """Builds the index of SQL method `name` and checks its plan; returns the
    method's result without points (see sweep_sql)."""
    cfg = SQL[name]
    typ = cfg["type"]
    idx = f"{table}_v_idx"
    conn.execute(f"DROP INDEX IF EXISTS {idx}")
    # Start from clean buffers: the dirty pages and WAL of the previous
    # build (the other method's, when they alternate) are not flushed
    # during this one.
    conn.execute("CHECKPOINT")
    notices = []
    # CREATE INDEX is the first statement of a connection of its own: with a
    # statement just before it in the same session, PostgreSQL 15's 10 s
    # idle-stats-update timer can fire during the build (a benign interrupt;
    # see README.md for what it did to an ember build).
    with psycopg.connect(conn_str, autocommit=True) as build_conn:
        build_conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        log(f"{name}: CREATE INDEX ... USING {cfg['am']} (v {cfg['opclass'][metric]}) "
            f"WITH (m = {m}, ef_construction = {efc})")
        t0 = time.perf_counter()
        build_conn.execute(f"CREATE INDEX {idx} ON {table} USING {cfg['am']} (v {cfg['opclass'][metric]}) "
                           f"WITH (m = {m}, ef_construction = {efc})")
        build = time.perf_counter() - t0
    size = conn.execute(f"SELECT pg_relation_size('{idx}')").fetchone()[0]
    for n in notices:
        log(f"{name}: server notice: {n}")
    log(f"{name}: built in {build:.1f} s, index {size / 2**20:.1f} MiB")
    sql = f"SELECT id FROM {table} ORDER BY v {OPS[metric]} %s::{typ} LIMIT 10"
    plan = explain(conn, sql, qtexts[0])
    if f"Index Scan using {idx}" not in plan:
        raise RuntimeError(f"{name}: the query does not use {idx}:\n{plan}")
    log(f"{name}: plan:\n    " + plan.replace("\n", "\n    "))
    return {"method": name, "build_s": build, "size_bytes": size, "plan": plan, "notices": notices,
            "points": [], "sql": sql}


def sweep_sql(conn, runs, qtexts, gt, efs):
    """The ef_search sweep of the built SQL methods `runs`, interleaved: at
    each ef_search every method gets a warm-up pass, then the timed passes
    alternate between the methods (A, B, A, B, ...), each method keeping
    its fastest, so that a change in the load of a shared machine (a burst
    lasts about as long as a pass) hits all of them alike rather than the
    method measured last."""
    def set_ef(r, value):
        guc = SQL[r["method"]]["ef_guc"]
        conn.execute(f"SET {guc} = {value}" if value is not None else f"RESET {guc}")

    for ef in efs:
        for r in runs:
            set_ef(r, ef)
            sql_pass(conn, r["sql"], qtexts)  # warm-up
            set_ef(r, None)
        best = {}
        for _ in range(PASSES):
            for r in runs:
                set_ef(r, ef)
                el, res = sql_pass(conn, r["sql"], qtexts)
                set_ef(r, None)
                if r["method"] not in best or el < best[r["method"]][0]:
                    best[r["method"]] = (el, res)
        for r in runs:
            name = r["method"]
            el, res = best[name]
            short = sum(len(x) < 10 for x in res)
            p = {"ef": ef, "recall": recall(res, gt), "qps": len(qtexts) / el, "short_results": short}
            r["points"].append(p)
            log(f"{name}: ef_search {ef:4d}: recall@10 {p['recall']:.4f}, {p['qps']:8.1f} QPS"
                + (f" ({short} queries returned < 10 rows)" if short else ""))


# --------------------------------------------------------------------------
# libraries


def run_hnswlib(base, queries, metric, gt, efs, m, efc, threads):
    import hnswlib
    space = {"cosine": "cosine", "l2": "l2", "ip": "ip"}[metric]
    index = hnswlib.Index(space=space, dim=base.shape[1])
    index.init_index(max_elements=len(base), ef_construction=efc, M=m, random_seed=100)
    log(f"hnswlib: add_items ({threads} threads, M={m}, ef_construction={efc}, space={space})")
    t0 = time.perf_counter()
    index.add_items(base, np.arange(len(base)), num_threads=threads)
    build = time.perf_counter() - t0
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        index.save_index(f.name)
        size = os.path.getsize(f.name)
    log(f"hnswlib: built in {build:.1f} s, index {size / 2**20:.1f} MiB (saved file)")
    points = []
    for ef in efs:
        index.set_ef(ef)

        def one_pass():
            res = []
            t = time.perf_counter()
            for q in queries:
                labels, _ = index.knn_query(q[None, :], k=10, num_threads=1)
                res.append(labels[0].tolist())
            return time.perf_counter() - t, res
        one_pass()  # warm-up
        el, res = timed_passes(one_pass)
        p = {"ef": ef, "recall": recall(res, gt), "qps": len(queries) / el}
        points.append(p)
        log(f"hnswlib: ef {ef:4d}: recall@10 {p['recall']:.4f}, {p['qps']:8.1f} QPS")
    return {"method": "hnswlib", "build_s": build, "size_bytes": size, "points": points}


def run_faiss(base, queries, metric, gt, efs, m, efc, threads):
    import faiss
    if metric == "cosine":  # inner product on normalised vectors
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        fm = faiss.METRIC_INNER_PRODUCT
    elif metric == "ip":
        fm = faiss.METRIC_INNER_PRODUCT
    else:
        fm = faiss.METRIC_L2
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index = faiss.IndexHNSWFlat(base.shape[1], m, fm)
    index.hnsw.efConstruction = efc
    faiss.omp_set_num_threads(threads)
    log(f"faiss: IndexHNSWFlat.add ({threads} OpenMP threads, M={m}, efConstruction={efc}, "
        f"{'inner product' if fm == faiss.METRIC_INNER_PRODUCT else 'l2'})")
    t0 = time.perf_counter()
    index.add(base)
    build = time.perf_counter() - t0
    size = faiss.serialize_index(index).nbytes
    log(f"faiss: built in {build:.1f} s, index {size / 2**20:.1f} MiB (serialized)")
    faiss.omp_set_num_threads(1)
    points = []
    for ef in efs:
        index.hnsw.efSearch = ef

        def one_pass():
            res = []
            t = time.perf_counter()
            for i in range(len(queries)):
                _, labels = index.search(queries[i:i + 1], 10)
                res.append(labels[0].tolist())
            return time.perf_counter() - t, res
        one_pass()  # warm-up
        el, res = timed_passes(one_pass)
        p = {"ef": ef, "recall": recall(res, gt), "qps": len(queries) / el}
        points.append(p)
        log(f"faiss: ef {ef:4d}: recall@10 {p['recall']:.4f}, {p['qps']:8.1f} QPS")
    faiss.omp_set_num_threads(threads)
    return {"method": "faiss", "build_s": build, "size_bytes": size, "points": points}


# --------------------------------------------------------------------------
# report


def curve(res):
    """(recall, qps) sorted by recall, best QPS kept for equal recall."""
    pts = {}
    for p in res["points"]:
        pts[p["recall"]] = max(pts.get(p["recall"], 0), p["qps"])
    return sorted(pts.items())


def qps_at(res, target):
    """QPS at `target` recall, linear interpolation between the two measured
    points that bracket it; None when the curve does not reach it; ('>=', qps)
    when even the smallest ef is above it."""
    c = curve(res)
    if not c or c[-1][0] < target:
        return None
    if c[0][0] >= target:
        return (">=", max(q for r, q in c if r >= target))
    for (r0, q0), (r1, q1) in zip(c, c[1:]):
        if r0 <= target <= r1:
            return ("", q0 + (q1 - q0) * (target - r0) / (r1 - r0) if r1 > r0 else max(q0, q1))
    return None


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}x"


def report(args, results, info):
    order = ["ember", "pgvector", "hnswlib", "faiss"]
    idx_methods = [m for m in order if m in results]
    exacts = [m for m in ("exact-pgvector", "exact-ember") if m in results]
    baseline = results[exacts[0]]["points"][0]["qps"] if exacts else None
    pg = results.get("pgvector")
    L = [f"# HNSW: ember_hnsw vs pgvector, hnswlib, faiss ({info['dataset']})", ""]
    L += [f"Date {info['date']}; {info['machine']}.", f"Data: {info['desc']}.",
          f"Rows indexed: {info['rows']:,}; queries: {info['queries']:,}; dim {info['dim']}; metric {info['metric']}; "
          f"k = 10; m = {args.m}, ef_construction = {args.ef_construction}.",
          f"Versions: {info['versions']}.",
          f"Run: `{info['command']}`; load average at start {info['load_start']}, at end {info['load_end']}.", ""]
    earlier = [m for m in results if results[m].get("run_id") != info["run_id"]]
    if earlier:
        L += ["Measured in an earlier run of the same data set (reused, see its date): "
              + ", ".join(f"{m} ({results[m]['date']})" for m in earlier) + ".", ""]
    L += ["Single client: one SQL connection (prepared statement, vector sent as text, "
          "Unix socket) or one library thread, one query at a time; a warm-up pass, then "
          + ("a timed pass" if args.passes == 1 else f"the fastest of {args.passes} timed passes")
          + f" over all queries (exact scan: {args.exact_warmup} warm-up queries"
          + (f", then the first {args.exact_queries} queries" if args.exact_queries else "") + "). "
          f"\"x exact\" is QPS over the SQL exact scan ({exacts[0] if exacts else 'n/a'}); "
          "\"x pgvector @ recall\" is QPS over pgvector's QPS interpolated at the same recall (— outside pgvector's range).", ""]
    L += ["| method | ef_search | recall@10 | QPS | x exact | x pgvector @ recall |", "|---|---:|---:|---:|---:|---:|"]
    for m in exacts:
        p = results[m]["points"][0]
        L.append(f"| {m} (no index) | — | {p['recall']:.4f} | {p['qps']:.1f} | "
                 f"{fmt_ratio(p['qps'] / baseline if baseline else None)} | — |")
    for m in idx_methods:
        for p in results[m]["points"]:
            vs = None
            if pg and m != "pgvector":
                at = qps_at(pg, p["recall"])
                vs = p["qps"] / at[1] if at and at[0] == "" else None
            elif m == "pgvector":
                vs = 1.0
            L.append(f"| {m} | {p['ef']} | {p['recall']:.4f} | {p['qps']:.1f} | "
                     f"{fmt_ratio(p['qps'] / baseline if baseline else None)} | {fmt_ratio(vs)} |")
    L += ["", f"QPS at recall@10 = {args.target_recall} (linear interpolation between the two bracketing ef_search points):", "",
          "| method | QPS @ recall " + str(args.target_recall) + " | x exact | x pgvector |", "|---|---:|---:|---:|"]
    pg_at = qps_at(pg, args.target_recall) if pg else None
    for m in idx_methods:
        at = qps_at(results[m], args.target_recall)
        if at is None:
            L.append(f"| {m} | not reached (max recall {max(p['recall'] for p in results[m]['points']):.4f}) | — | — |")
            continue
        vs = at[1] / pg_at[1] if pg_at and not pg_at[0] and not at[0] else None
        L.append(f"| {m} | {at[0]}{at[1]:.1f} | {fmt_ratio(at[1] / baseline if baseline else None)} | {fmt_ratio(vs)} |")
    L += ["", "Build (SQL: CREATE INDEX after COPY + VACUUM ANALYZE, "
          f"max_parallel_maintenance_workers = {info['parallel_workers']}, the fastest of {args.builds} builds "
          f"alternating between the SQL methods; libraries: {args.threads} threads, one build):", "",
          "| method | build s (fastest) | each build, s | index MiB | build time / ember's |",
          "|---|---:|---:|---:|---:|"]
    em = results.get("ember")
    for m in idx_methods:
        r = results[m]
        ratio = r["build_s"] / em["build_s"] if em else None
        runs = ", ".join(f"{b:.1f}" for b in r.get("build_runs", [r["build_s"]]))
        L.append(f"| {m} | {r['build_s']:.1f} | {runs} | {r['size_bytes'] / 2**20:.1f} | {fmt_ratio(ratio)} |")
    if em:
        L += ["", "Build-time ratios: " + "; ".join(
            f"ember builds {results[m]['build_s'] / em['build_s']:.2f}x as fast as {m}"
            for m in idx_methods if m != "ember") + "."]
    else:
        L += ["", "ember_hnsw was not measured in this report (see the README for the command)."]
    for e in info["errors"]:
        L += ["", f"**Failed:** {e}"]
    L += ["", "Plans:", ""]
    for m in exacts + [m for m in ("ember", "pgvector") if m in results]:
        L += [f"- {m}: `" + " / ".join(s.strip() for s in results[m]["plan"].splitlines()) + "`"]
    for m in ("ember", "pgvector"):
        if m in results and results[m].get("notices"):
            L += [f"- {m} CREATE INDEX notices: " + "; ".join(results[m]["notices"])]
    return "\n".join(L) + "\n"


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def loadavg():
    return open("/proc/loadavg").read().split()[0]


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=["wordnet", "fashion-mnist", "clustered"], default="wordnet")
    ap.add_argument("--only", choices=["all", "peers", "ember"], default="all",
                    help="all: every method (ember only if ember_hnsw exists); peers: pgvector, hnswlib, faiss; "
                         "ember: ember_hnsw and its exact scan, reporting the peers from an earlier run")
    ap.add_argument("--rows", type=int, default=0, help="subsample the indexed set to N rows (0 = all)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--efs", default=EFS_DEFAULT)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="build threads for hnswlib and faiss")
    ap.add_argument("--passes", type=int, default=1,
                    help="timed passes per point, the fastest is kept (for a noisy machine)")
    ap.add_argument("--builds", type=int, default=2,
                    help="CREATE INDEX runs per SQL method, alternating between them; the fastest is reported")
    ap.add_argument("--exact-warmup", type=int, default=100, help="warm-up queries before the timed exact scan")
    ap.add_argument("--exact-queries", type=int, default=0,
                    help="time the exact scan over the first N queries only (0 = all; its time per query hardly varies)")
    ap.add_argument("--no-pgvector", action="store_true", help="pgvector is not installed: skip it")
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--encoder", choices=["ember", "st"], default="ember")
    ap.add_argument("--model", default="/usr/share/postgresql/15/ember/models/all-MiniLM-L6-v2")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--dim", type=int, default=128, help="dimensions of the clustered set")
    ap.add_argument("--metric", choices=["default", "ip"], default="default",
                    help="ip: index and search with inner product instead of the set's own metric")
    ap.add_argument("--lift", type=int, default=0,
                    help="map the vectors into N dimensions by a fixed random isometry (distances unchanged)")
    ap.add_argument("--project", type=int, default=0,
                    help="project the vectors onto their N principal axes (a narrower set with the data's geometry)")
    ap.add_argument("--cache", default="/var/tmp/ember-bench")
    ap.add_argument("--dbname", default="hnsw_bench")
    ap.add_argument("--out", default="", help="report path (default benches/hnsw/results-<date>[-rowsN].md)")
    ap.add_argument("--command", default="", help="the command line to print in the report")
    args = ap.parse_args()
    efs = [int(x) for x in args.efs.split(",")]
    global PASSES
    PASSES = args.passes
    os.makedirs(args.cache, exist_ok=True)
    load_start = loadavg()
    log(f"load average {load_start}; {os.cpu_count()} CPUs; numpy {np.__version__}")

    conn_str = f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname={args.dbname}"
    conn = psycopg.connect(conn_str, autocommit=True)
    have = dict(conn.execute("SELECT name, installed_version FROM pg_available_extensions "
                             "WHERE name IN ('vector', 'ember')").fetchall())
    ember_am = conn.execute("SELECT count(*) FROM pg_am WHERE amname = 'ember_hnsw'").fetchone()[0] == 1
    ember_ext = have.get("ember")
    if args.no_pgvector or "vector" not in have:
        pgvector = False
        if args.only != "ember":
            log("pgvector is not installed (set EMBER_PGVECTOR_SRC to its source, see README): skipping pgvector")
    else:
        pgvector = True
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        have["vector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    run_ember = args.only in ("all", "ember")
    if run_ember and not ember_am:
        msg = (f"ember_hnsw is not an access method in database {args.dbname} (ember {ember_ext or 'not created'}): "
               "install the ember build that has it, then run benches/hnsw/run.sh --only ember")
        if args.only == "ember":
            sys.exit("error: " + msg)
        log("skipping ember: " + msg)
        run_ember = False
    run_peers = args.only in ("all", "peers")

    if args.dataset == "wordnet":
        if args.encoder == "ember" and not ember_ext:
            sys.exit("error: encoding needs the ember extension in the bench database")
        base, queries, metric, key, desc = load_wordnet(args, conn)
    elif args.dataset == "fashion-mnist":
        base, queries, metric, key, desc = load_fashion(args)
    else:
        base, queries, metric, key, desc = load_clustered(args)
    if args.metric == "ip":
        # Inner product (`<#>`, the ip opclasses) over the same vectors; on
        # WordNet's unit vectors it orders as cosine does.
        metric = "ip"
        key += "-ip"
        desc += "; inner product"
    if args.project:
        # The N principal axes of the indexed vectors (computed centred, the
        # vectors projected as they are): what a narrower model of the same
        # data might give, unlike the clustered set's synthetic mixture.
        if args.lift:
            sys.exit("error: --project and --lift do not combine")
        _, _, vt = np.linalg.svd(base - base.mean(axis=0), full_matrices=False)
        axes = vt[:args.project].astype(np.float32)
        base, queries = base @ axes.T, queries @ axes.T
        key += f"-project{args.project}"
        desc += f"; projected onto its {args.project} principal axes"
    if args.lift:
        # A fixed random isometry into `lift` dimensions: every distance and
        # the ground truth stay as they were, the vectors cost what vectors
        # of that width cost (as embeddings of a wider model would).
        basis, _ = np.linalg.qr(np.random.default_rng(1536).standard_normal((args.lift, base.shape[1])))
        basis = basis.astype(np.float32)
        base, queries = base @ basis.T, queries @ basis.T
        key += f"-lift{args.lift}"
        desc += f"; mapped by a fixed random isometry into {args.lift} dimensions"
    if args.rows and args.rows < len(base):
        sel = np.sort(np.random.default_rng(42).choice(len(base), args.rows, replace=False))
        base = base[sel]
    rows_tag = f"rows{len(base)}"
    log(f"data: {len(base):,} x {base.shape[1]} indexed, {len(queries):,} queries, metric {metric}")
    t = time.perf_counter()
    gt = ground_truth(base, queries, metric, 10, os.path.join(args.cache, f"{key}-{rows_tag}-q{len(queries)}-gt.npy"))
    log(f"ground truth (exact top-10, float64 numpy) ready in {time.perf_counter() - t:.1f} s")
    qtexts = [vec_text(q) for q in queries]
    nx = args.exact_queries or len(qtexts)

    resdir = os.path.join(args.cache, "results", f"{key}-{rows_tag}-q{len(queries)}-m{args.m}-efc{args.ef_construction}")
    os.makedirs(resdir, exist_ok=True)
    run_id = datetime.datetime.now().isoformat(timespec="seconds")
    results = {}

    def save(r):
        r["run_id"] = run_id
        r["date"] = run_id
        results[r["method"]] = r
        json.dump(r, open(os.path.join(resdir, r["method"] + ".json"), "w"), indent=1)

    pw = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]
    settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                 "('shared_buffers', 'maintenance_work_mem', 'max_parallel_maintenance_workers', "
                                 "'max_parallel_workers_per_gather', 'jit', 'work_mem')").fetchall())
    log(f"server settings: {settings}")

    sql_methods = []  # (name, table) of the SQL indexes to build
    if run_peers and pgvector:
        load_table(conn, "items_pgvector", "vector", base)
        save(run_exact(conn, "exact-pgvector", "items_pgvector", "vector", metric, qtexts[:nx], gt[:nx], args.exact_warmup))
        sql_methods.append(("pgvector", "items_pgvector"))
    if run_peers:
        save(run_hnswlib(base, queries, metric, gt, efs, args.m, args.ef_construction, args.threads))
        save(run_faiss(base, queries, metric, gt, efs, args.m, args.ef_construction, args.threads))
    errors = []
    if run_ember:
        try:
            load_table(conn, "items_ember", "embedding", base)
            save(run_exact(conn, "exact-ember", "items_ember", "embedding", metric, qtexts[:nx], gt[:nx], args.exact_warmup))
            sql_methods.append(("ember", "items_ember"))
        except (psycopg.Error, RuntimeError) as e:  # report the peers all the same
            errors.append(f"ember: {type(e).__name__}: {e}")
            log("ERROR " + errors[-1])
            if conn.closed or conn.broken:
                conn = psycopg.connect(conn_str, autocommit=True)
    # The SQL builds alternate (pgvector, ember, pgvector, ...) and each
    # method keeps its fastest, as the query passes do: one build on a
    # shared machine moved by 20% between runs.
    built = {}
    for _ in range(args.builds):
        for name, table in list(sql_methods):
            try:
                r = build_sql_index(conn, conn_str, name, table, metric, qtexts, args.m, args.ef_construction)
            except (psycopg.Error, RuntimeError) as e:
                errors.append(f"{name}: {type(e).__name__}: {e}")
                log("ERROR " + errors[-1])
                sql_methods.remove((name, table))
                built.pop(name, None)
                if conn.closed or conn.broken:
                    conn = psycopg.connect(conn_str, autocommit=True)
                continue
            runs = built[name]["build_runs"] + [r["build_s"]] if name in built else [r["build_s"]]
            r["build_runs"] = runs
            r["build_s"] = min(runs)
            built[name] = r
    sql_runs = [built[name] for name, _ in sql_methods if name in built]
    sweep_sql(conn, sql_runs, qtexts, gt, efs)
    for r in sql_runs:
        del r["sql"]
        save(r)
    if args.only == "ember":  # report against the peers of an earlier run
        for m in ("exact-pgvector",) + PEERS:
            p = os.path.join(resdir, m + ".json")
            if m not in results and os.path.exists(p):
                results[m] = json.load(open(p))
                log(f"reusing {m} from the run of {results[m]['date']}")

    import faiss
    import hnswlib  # noqa: F401
    from importlib.metadata import version
    vers = [f"PostgreSQL {conn.info.server_version // 10000}.{conn.info.server_version % 100}",
            f"ember {ember_ext}", f"pgvector {have.get('vector') if pgvector else 'n/a'}",
            f"hnswlib {version('hnswlib')}", f"faiss-cpu {faiss.__version__} ({faiss.get_compile_options().strip()})",
            f"numpy {np.__version__}", f"psycopg {psycopg.__version__}", f"Python {platform.python_version()}"]
    info = {"dataset": args.dataset, "desc": desc, "rows": len(base), "queries": len(queries), "dim": base.shape[1],
            "metric": metric, "date": datetime.date.today().isoformat(), "run_id": run_id,
            "machine": f"CPU {cpu_model()}, {os.cpu_count()} vCPU, "
                       f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB; server: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())),
            "versions": ", ".join(vers), "parallel_workers": pw,
            "command": args.command or " ".join(sys.argv), "load_start": load_start, "load_end": loadavg(),
            "errors": errors}
    text = report(args, results, info)
    out = args.out
    if not out:
        here = os.path.dirname(os.path.abspath(__file__))
        tag = (f"clustered{args.dim}" if args.dataset == "clustered" else args.dataset) + \
            (f"-lift{args.lift}" if args.lift else "") + (f"-project{args.project}" if args.project else "")
        suffix = ("" if tag == "wordnet" else "-" + tag) + (f"-{rows_tag}" if args.rows else "")
        out = os.path.join(here, f"results-{info['date']}{suffix}.md")
    with open(out, "w") as f:
        f.write(text)
    print()
    print(text)
    log(f"report written to {out}")
    if errors:
        sys.exit("errors: " + "; ".join(errors))


if __name__ == "__main__":
    main()
