"""IVF benchmark: ember_ivf (SQ8 codes with exact re-ranking, and full
values) against pgvector's ivfflat and faiss IndexIVFFlat /
IndexIVFScalarQuantizer(QT_8bit), all with the same number of lists, on the
same vectors, queries and ground truth, same machine, same run.

The data sets, their caches and the ground truth are the HNSW benchmark's
(benches/hnsw/bench_hnsw.py, imported): `wordnet` (default), 384-d
all-MiniLM-L6-v2 embeddings of the WordNet 3.0 glosses, cosine; and
`fashion-mnist` (Debian dataset-fashion-mnist), 60k x 784 pixels, l2.

Per method: build time (SQL: COPY first, then the CREATE INDEX alone is
timed, on a fresh connection; libraries: train + add), index size, then for
each probes value recall@10 and single-client QPS. The probes sweep is
interleaved: for each probes value every method is measured in turn, so
that a change of load on a shared machine hits all of them alike. The
exact scan (no index, enable_indexscan = off) of both extensions is the
baseline.

Results of every method are also stored as JSON under --cache/results/, so an
`--only ember` run can report against the peers measured by an earlier run
(marked as such in the report).
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import sys
import time

import numpy as np
import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hnsw"))
import bench_hnsw as H  # noqa: E402  (data sets, ground truth, SQL helpers)
from bench_hnsw import log, recall, vec_text, curve, qps_at, fmt_ratio, cpu_model, loadavg  # noqa: E402

PROBES_DEFAULT = "1,2,3,4,6,8,12,16,24,32,64"
OPS = H.OPS
EMBER_SO = "/usr/lib/postgresql/15/lib/ember.so"

# name -> how it is built and searched
SQL_METHODS = {
    "ember-sq8": {"table": "items_ember", "type": "embedding", "am": "ember_ivf", "storage": "sq8",
                  "guc": "ember.ivf_probes", "opclass": {"cosine": "embedding_cosine_ops", "l2": "embedding_l2_ops"}},
    "ember-full": {"table": "items_ember_full", "type": "embedding", "am": "ember_ivf", "storage": "full",
                   "guc": "ember.ivf_probes", "opclass": {"cosine": "embedding_cosine_ops", "l2": "embedding_l2_ops"}},
    "pgvector": {"table": "items_pgvector", "type": "vector", "am": "ivfflat", "storage": None,
                 "guc": "ivfflat.probes", "opclass": {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops"}},
}
LIB_METHODS = ("faiss-ivfflat", "faiss-ivfsq8")
ORDER = ["ember-sq8", "ember-full", "pgvector", "faiss-ivfflat", "faiss-ivfsq8"]
LABEL = {
    "ember-sq8": "ember_ivf, storage = sq8",
    "ember-full": "ember_ivf, storage = full",
    "pgvector": "pgvector ivfflat",
    "faiss-ivfflat": "faiss IndexIVFFlat",
    "faiss-ivfsq8": "faiss IndexIVFScalarQuantizer QT_8bit",
}


def so_state():
    try:
        st = os.stat(EMBER_SO)
        h = hashlib.sha256(open(EMBER_SO, "rb").read()).hexdigest()[:12]
        return f"sha256 {h}, mtime {datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')}"
    except OSError:
        return "absent"


# --------------------------------------------------------------------------
# connections that survive a restart of the server (a new ember.so installed
# under a running server can crash a backend; the postmaster then restarts
# every backend)


def wait_for_server(conn_str, timeout=300):
    t0 = time.perf_counter()
    while True:
        try:
            with psycopg.connect(conn_str, autocommit=True, connect_timeout=5) as c:
                c.execute("SELECT 1")
            return
        except psycopg.OperationalError as e:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"the server did not come back within {timeout} s: {e}")
            time.sleep(2)


class Retry:
    """Runs fn(); when the connection breaks, waits for the server, calls
    reconnect() and runs fn() again (at most `tries` times in all)."""

    def __init__(self, conn_str):
        self.conn_str = conn_str
        self.events = []

    def __call__(self, what, fn, reconnect, tries=4):
        for attempt in range(tries):
            try:
                return fn()
            except psycopg.OperationalError as e:
                if attempt == tries - 1:
                    raise
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log(f"{what}: connection lost ({msg}); waiting for the server, then again")
                self.events.append(f"{datetime.datetime.now().strftime('%H:%M:%S')} {what}: {msg} (ember.so: {so_state()})")
                wait_for_server(self.conn_str)
                reconnect()


# --------------------------------------------------------------------------
# checks on the returned rows


def order_violations(res, base, queries, metric):
    """Queries whose rows are not in non-decreasing exact distance (float64
    numpy, relative tolerance 1e-5), and queries with duplicate ids."""
    bad_order = dup = 0
    for r, q in zip(res, queries):
        if len(set(r)) != len(r):
            dup += 1
        if len(r) < 2:
            continue
        v = base[np.asarray(r)].astype(np.float64)
        q = q.astype(np.float64)
        if metric == "cosine":
            d = 1 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))
        else:
            d = np.sqrt(((v - q) ** 2).sum(axis=1))
        if np.any(np.diff(d) < -1e-5 * np.maximum(1e-3, np.abs(d[1:]))):
            bad_order += 1
    return bad_order, dup


# --------------------------------------------------------------------------
# SQL methods


class SqlIndex:
    def __init__(self, name, conn_str, metric, lists, retry):
        self.name, self.cfg = name, SQL_METHODS[name]
        self.conn_str, self.metric, self.lists, self.retry = conn_str, metric, lists, retry
        self.table = self.cfg["table"]
        self.idx = f"{self.table}_ivf_idx"
        self.sql = f"SELECT id FROM {self.table} ORDER BY v {OPS[metric]} %s::{self.cfg['type']} LIMIT 10"
        self.conn = None
        self.result = {"method": name, "points": []}

    def connect(self):
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
        self.conn = psycopg.connect(self.conn_str, autocommit=True)

    def with_options(self):
        opts = [f"lists = {self.lists}"]
        if self.cfg["storage"]:
            opts.append(f"storage = {self.cfg['storage']}")
        return ", ".join(opts)

    def build(self):
        c = self.cfg
        ddl = (f"CREATE INDEX {self.idx} ON {self.table} USING {c['am']} (v {c['opclass'][self.metric]}) "
               f"WITH ({self.with_options()})")
        notices = []

        def go():
            notices.clear()
            with psycopg.connect(self.conn_str, autocommit=True) as setup:
                setup.execute(f"DROP INDEX IF EXISTS {self.idx}")
            # The CREATE INDEX is the first statement of a connection of its
            # own (see benches/hnsw/README.md: the idle-stats timer).
            with psycopg.connect(self.conn_str, autocommit=True) as bc:
                bc.add_notice_handler(lambda diag: notices.append(diag.message_primary))
                log(f"{self.name}: {ddl}")
                t0 = time.perf_counter()
                bc.execute(ddl)
                return time.perf_counter() - t0
        build = self.retry(f"{self.name} build", go, lambda: None)
        self.connect()
        size = self.conn.execute(f"SELECT pg_relation_size('{self.idx}')").fetchone()[0]
        for n in notices:
            log(f"{self.name}: server notice: {n}")
        log(f"{self.name}: built in {build:.1f} s, index {size / 2**20:.1f} MiB")
        self.result.update({"build_s": build, "size_bytes": size, "notices": list(notices), "ddl": ddl})
        if c["am"] == "ember_ivf":
            t0 = time.perf_counter()
            try:
                n = self.conn.execute(f"SELECT ember_ivf_verify('{self.idx}')").fetchone()[0]
                rows = self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
                self.result["verify"] = f"ember_ivf_verify: {n:,} entries ({rows:,} rows)"
                log(f"{self.name}: ember_ivf_verify returned {n:,} entries for {rows:,} rows "
                    f"({time.perf_counter() - t0:.1f} s)")
                if n != rows:
                    self.result["verify"] += " MISMATCH"
            except psycopg.Error as e:
                self.result["verify"] = f"ember_ivf_verify failed: {e}"
                log(f"{self.name}: ember_ivf_verify FAILED: {e}")
                self.connect()

    def set_probes(self, probes):
        """SET the probes GUC; EXPLAIN must show the index (when the planner
        prefers a sequential scan, enable_seqscan is turned off for this point)."""
        self.conn.execute(f"SET {self.cfg['guc']} = {probes}")
        self.conn.execute("RESET enable_seqscan")
        plan = H.explain(self.conn, self.sql, self.qtext0)
        forced = False
        if f"Index Scan using {self.idx}" not in plan:
            chosen = self.limit_cost()
            self.conn.execute("SET enable_seqscan = off")
            forced = f"planner's cost: sequential scan {chosen}, index scan {self.limit_cost()}"
            plan = H.explain(self.conn, self.sql, self.qtext0)
            if f"Index Scan using {self.idx}" not in plan:
                raise RuntimeError(f"{self.name}: the query does not use {self.idx}:\n{plan}")
        if "plan" not in self.result:
            self.result["plan"] = plan
            log(f"{self.name}: plan:\n    " + plan.replace("\n", "\n    "))
        return forced

    def explain_sample(self, qtexts, n):
        """Mean server-side execution time (ms) and shared buffers per query
        over the first n queries: EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)."""
        ms, bufs = [], []
        for q in qtexts[:n]:
            plan = self.conn.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) "
                                     + self.sql.replace("%s", "'" + q + "'")).fetchone()[0][0]
            ms.append(plan["Execution Time"])
            top = plan["Plan"]
            bufs.append(top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0))
        return (float(np.mean(ms)), float(np.mean(bufs))) if ms else (None, None)

    def limit_cost(self):
        """The total cost of the query's plan (its Limit node)."""
        line = self.conn.execute("EXPLAIN " + self.sql.replace("%s", "'" + self.qtext0 + "'")).fetchone()[0]
        m = re.search(r"cost=[0-9.]+\.\.([0-9.]+)", line)
        return m.group(1) if m else "?"

    def point(self, probes, qtexts, gt, warm, base, queries, explain_n=0):
        def go():
            forced = self.set_probes(probes)
            H.sql_pass(self.conn, self.sql, qtexts[:warm])
            el, res = H.timed_passes(lambda: H.sql_pass(self.conn, self.sql, qtexts))
            return (forced, el, res) + self.explain_sample(qtexts, explain_n)
        forced, el, res, exec_ms, bufs = self.retry(f"{self.name} probes {probes}", go, self.connect)
        bad, dup = order_violations(res, base, queries, self.metric)
        p = {"probes": probes, "recall": recall(res, gt), "qps": len(qtexts) / el,
             "short_results": sum(len(r) < 10 for r in res), "forced": forced,
             "order_violations": bad, "duplicates": dup, "exec_ms": exec_ms, "buffers": bufs}
        self.result["points"].append(p)
        self.last_res = res
        log(f"{self.name:13s} probes {probes:4d}: recall@10 {p['recall']:.4f}, {p['qps']:8.1f} QPS"
            + (f"; server {exec_ms:.2f} ms, {bufs:,.0f} buffers per query" if exec_ms is not None else "")
            + (f" (enable_seqscan = off: the planner chose a sequential scan; {forced})" if forced else "")
            + (f" ({p['short_results']} queries returned < 10 rows)" if p["short_results"] else "")
            + (f" ({bad} queries out of distance order)" if bad else "")
            + (f" ({dup} queries with duplicate rows)" if dup else ""))
        return res


def make_ember_full_table(conn):
    conn.execute("DROP TABLE IF EXISTS items_ember_full")
    t0 = time.perf_counter()
    conn.execute("CREATE TABLE items_ember_full AS SELECT id, v FROM items_ember ORDER BY id")
    conn.execute("ALTER TABLE items_ember_full ALTER id SET NOT NULL, ALTER v SET NOT NULL")
    conn.execute("VACUUM (ANALYZE) items_ember_full")
    conn.execute("CHECKPOINT")
    log(f"  copied items_ember to items_ember_full in {time.perf_counter() - t0:.1f} s, VACUUM ANALYZE, CHECKPOINT")


def exact(conn_holder, retry, name, table, typ, metric, qtexts, gt, warm):
    def reconnect():
        conn_holder[0] = psycopg.connect(conn_holder[1], autocommit=True)
    return retry(name, lambda: H.run_exact(conn_holder[0], name, table, typ, metric, qtexts, gt, warm), reconnect)


# --------------------------------------------------------------------------
# faiss


class FaissIvf:
    def __init__(self, name, base, queries, metric, lists, threads):
        import faiss
        self.faiss, self.name, self.threads = faiss, name, threads
        if metric == "cosine":  # inner product on normalised vectors
            base = base / np.linalg.norm(base, axis=1, keepdims=True)
            queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
            self.fm = faiss.METRIC_INNER_PRODUCT
        else:
            self.fm = faiss.METRIC_L2
        self.base = np.ascontiguousarray(base, dtype=np.float32)
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.lists = lists
        self.result = {"method": name, "points": []}

    def build(self):
        faiss, d = self.faiss, self.base.shape[1]
        quantizer = faiss.IndexFlatIP(d) if self.fm == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
        if self.name == "faiss-ivfflat":
            index = faiss.IndexIVFFlat(quantizer, d, self.lists, self.fm)
        else:
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, self.lists, faiss.ScalarQuantizer.QT_8bit, self.fm)
        index.cp.seed = 1234
        faiss.omp_set_num_threads(self.threads)
        log(f"{self.name}: train + add ({self.threads} OpenMP threads, nlist={self.lists}, "
            f"{'inner product on normalised vectors' if self.fm == faiss.METRIC_INNER_PRODUCT else 'l2'})")
        t0 = time.perf_counter()
        index.train(self.base)
        index.add(self.base)
        build = time.perf_counter() - t0
        size = faiss.serialize_index(index).nbytes
        faiss.omp_set_num_threads(1)
        self.index, self.quantizer = index, quantizer
        log(f"{self.name}: built in {build:.1f} s, index {size / 2**20:.1f} MiB (serialised)")
        self.result.update({"build_s": build, "size_bytes": size})

    def point(self, probes, qtexts, gt, warm, base, queries, explain_n=0):
        self.faiss.omp_set_num_threads(1)
        self.index.nprobe = probes
        qs = self.queries

        def one_pass(n):
            res = []
            t = time.perf_counter()
            for i in range(n):
                _, labels = self.index.search(qs[i:i + 1], 10)
                res.append([x for x in labels[0].tolist() if x >= 0])
            return time.perf_counter() - t, res
        one_pass(min(warm, len(qs)))
        el, res = H.timed_passes(lambda: one_pass(len(qs)))
        p = {"probes": probes, "recall": recall(res, gt), "qps": len(qs) / el,
             "short_results": sum(len(r) < 10 for r in res)}
        self.result["points"].append(p)
        log(f"{self.name:13s} probes {probes:4d}: recall@10 {p['recall']:.4f}, {p['qps']:8.1f} QPS"
            + (f" ({p['short_results']} queries returned < 10 rows)" if p["short_results"] else ""))
        return res


# --------------------------------------------------------------------------
# report


def qps_cell(res, target):
    at = qps_at(res, target) if res else None
    if at is None:
        return None, "not reached"
    return (at[1] if not at[0] else None), f"{at[0]}{at[1]:,.0f}"


def report(args, results, info):
    methods = [m for m in ORDER if m in results and results[m]["points"]]
    exacts = [m for m in ("exact-pgvector", "exact-ember") if m in results]
    baseline = results[exacts[0]]["points"][0]["qps"] if exacts else None
    pg = results.get("pgvector")
    t = args.target_recall
    L = [f"# IVF: ember_ivf vs pgvector ivfflat and faiss IVF ({info['dataset']})", ""]
    L += [f"Date {info['date']}; {info['machine']}.", f"Data: {info['desc']}.",
          f"Rows indexed: {info['rows']:,}; queries: {info['queries']:,}; dim {info['dim']}; metric {info['metric']}; "
          f"k = 10; lists = {info['lists']} for every method.",
          f"Versions: {info['versions']}.",
          f"ember.so at start: {info['so_start']}; at end: {info['so_end']}.",
          f"Run: `{info['command']}`; load average at start {info['load_start']}, at end {info['load_end']}.", ""]
    earlier = [m for m in results if results[m].get("run_id") != info["run_id"]]
    if earlier:
        L += ["Measured in an earlier run of the same data set (reused, see its date): "
              + ", ".join(f"{m} ({results[m]['date']})" for m in earlier) + ".", ""]
    L += ["Single client: one SQL connection per method (prepared statement, vector sent as text, "
          "Unix socket) or one faiss thread, one query at a time. For each probes value every method in turn: "
          f"{args.warmup} warm-up queries, then "
          + ("a timed pass" if args.passes == 1 else f"the fastest of {args.passes} timed passes")
          + f" over all queries (exact scan: {args.exact_warmup} warm-up queries, then the first {info['exact_queries']:,} timed). "
          f"\"x exact\" is QPS over the SQL exact scan ({exacts[0] if exacts else 'n/a'}); "
          "\"x pgvector\" is QPS over pgvector's QPS interpolated at the same recall (— outside pgvector's range).", ""]

    # summary
    L += [f"## Summary (QPS at recall@10 = {t}, linear interpolation between the two bracketing probes)", ""]
    L += [f"| method | QPS @ {t} | x exact | x pgvector | QPS @ 0.99 | build s | build speed x pgvector | index MiB |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in exacts:
        p = results[m]["points"][0]
        L.append(f"| {m} (no index) | {p['qps']:,.1f} (recall {p['recall']:.4f}) | "
                 f"{fmt_ratio(p['qps'] / baseline if baseline else None)} | — | — | — | — | — |")
    pg_at, _ = qps_cell(pg, t)
    pg_build = pg["build_s"] if pg else None
    for m in methods:
        r = results[m]
        at, cell = qps_cell(r, t)
        _, cell99 = qps_cell(r, 0.99)
        if cell == "not reached":
            cell = f"not reached (max recall {max(p['recall'] for p in r['points']):.4f})"
        bx = fmt_ratio(pg_build / r["build_s"] if pg_build and r.get("build_s") else None)
        L.append(f"| {LABEL[m]} | {cell} | {fmt_ratio(at / baseline if at and baseline else None)} | "
                 f"{fmt_ratio(at / pg_at if at and pg_at else None)} | {cell99} | "
                 f"{r['build_s']:.1f} | {bx} | {r['size_bytes'] / 2**20:.1f} |")
    L += ["", "Build: SQL, `CREATE INDEX` after `COPY` + `VACUUM ANALYZE` + `CHECKPOINT`, "
          f"max_parallel_maintenance_workers = {info['parallel_workers']} (ember's k-means uses every core); "
          f"faiss, `train` + `add` with {args.threads} OpenMP threads (it trains on at most 256 rows per list). "
          "Build speed x pgvector = pgvector's build time / the method's. "
          "Index size: `pg_relation_size`, or the serialised faiss index.", ""]

    # matrix
    L += ["## Recall@10 and QPS per probes", "",
          "| probes | " + " | ".join(LABEL[m] for m in methods) + " |",
          "|---:|" + "---|" * len(methods)]
    all_probes = sorted({p["probes"] for m in methods for p in results[m]["points"]})
    for pr in all_probes:
        cells = []
        for m in methods:
            p = next((p for p in results[m]["points"] if p["probes"] == pr), None)
            cells.append("" if p is None else f"{p['recall']:.4f}, {p['qps']:,.0f}" + ("*" if p.get("forced") else ""))
        L.append(f"| {pr} | " + " | ".join(cells) + " |")
    if any(p.get("forced") for m in methods for p in results[m]["points"]):
        L += ["", "\\* the planner chose a sequential scan at this probes value; measured with `enable_seqscan = off` "
              "(the plans' total costs, with the first query, are in the checks below)."]

    # server side
    sqlm = [m for m in methods if m in SQL_METHODS and any(p.get("exec_ms") is not None for p in results[m]["points"])]
    if sqlm:
        L += ["", f"## Where the time goes (SQL methods)", "",
              f"Each cell: client time per query (1 / QPS), the server's execution time and shared buffers "
              f"per query, the last two the mean of `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)` over the first "
              f"{args.explain} queries (the rest of the client time is the protocol, parsing the vector "
              "literal, planning and the Python client).", "",
              "| probes | " + " | ".join(sqlm) + " |", "|---:|" + "---|" * len(sqlm)]
        for pr in sorted({p["probes"] for m in sqlm for p in results[m]["points"]}):
            cells = []
            for m in sqlm:
                p = next((p for p in results[m]["points"] if p["probes"] == pr), None)
                cells.append("" if p is None or p.get("exec_ms") is None else
                             f"{1000 / p['qps']:.2f} ms; server {p['exec_ms']:.2f} ms, {p['buffers']:,.0f} buf")
            L.append(f"| {pr} | " + " | ".join(cells) + " |")

    # long table
    L += ["", "## Every point", "", "| method | probes | recall@10 | QPS | x exact | x pgvector @ recall |",
          "|---|---:|---:|---:|---:|---:|"]
    for m in exacts:
        p = results[m]["points"][0]
        L.append(f"| {m} (no index) | — | {p['recall']:.4f} | {p['qps']:.1f} | "
                 f"{fmt_ratio(p['qps'] / baseline if baseline else None)} | — |")
    for m in methods:
        for p in results[m]["points"]:
            vs = 1.0 if m == "pgvector" else None
            if pg and m != "pgvector":
                at = qps_at(pg, p["recall"])
                vs = p["qps"] / at[1] if at and at[0] == "" else None
            L.append(f"| {m} | {p['probes']} | {p['recall']:.4f} | {p['qps']:.1f} | "
                     f"{fmt_ratio(p['qps'] / baseline if baseline else None)} | {fmt_ratio(vs)} |")

    # checks
    L += ["", "## Checks", ""]
    for m in methods:
        r = results[m]
        short = sum(p.get("short_results", 0) for p in r["points"])
        bad = sum(p.get("order_violations", 0) for p in r["points"])
        dup = sum(p.get("duplicates", 0) for p in r["points"])
        bits = [f"{short} query results with < 10 rows over the sweep"]
        if m in SQL_METHODS:
            bits += [f"{bad} out of exact distance order", f"{dup} with duplicate rows"]
        if r.get("verify"):
            bits.append(r["verify"])
        forced = [f"probes {p['probes']} ({p['forced']})" for p in r["points"] if p.get("forced")]
        if forced:
            bits.append("planner chose a sequential scan at " + "; ".join(forced))
        L.append(f"- {m}: " + "; ".join(bits) + ".")
    if info.get("agree"):
        L.append("- ember-sq8 against ember-full (same lists, same probes; with exact re-ranking the two should "
                 "return the same rows when their k-means gives the same lists): identical top-10 sets in "
                 + ", ".join(f"{a:.1%} (probes {p})" for p, a in info["agree"]) + " of the queries.")
    for e in info["errors"]:
        L += ["", f"**Failed:** {e}"]
    if info["reconnects"]:
        L += ["", "Lost connections (the point was measured again): " + "; ".join(info["reconnects"])]
    L += ["", "Plans:", ""]
    for m in exacts + [m for m in SQL_METHODS if m in results]:
        if results[m].get("plan"):
            L += [f"- {m}: `" + " / ".join(s.strip() for s in results[m]["plan"].splitlines()) + "`"]
    for m in SQL_METHODS:
        if m in results and results[m].get("ddl"):
            L += [f"- {m}: `{results[m]['ddl']}`" + (" (notices: " + "; ".join(results[m]["notices"]) + ")"
                                                     if results[m].get("notices") else "")]
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=["wordnet", "fashion-mnist"], default="wordnet")
    ap.add_argument("--only", choices=["all", "peers", "ember"], default="all",
                    help="all: every method (ember only if ember_ivf exists); peers: pgvector, faiss, exact scan; "
                         "ember: ember_ivf (both storages) and its exact scan, reporting the peers of an earlier run")
    ap.add_argument("--rows", type=int, default=0, help="subsample the indexed set to N rows (0 = all)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--lists", type=int, default=0, help="lists for every method (0: rows / 1000, at least 1)")
    ap.add_argument("--probes", default=PROBES_DEFAULT, help="the probes sweep (values above lists become lists)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="build threads for faiss")
    ap.add_argument("--passes", type=int, default=1,
                    help="timed passes per point, the fastest is kept (for a noisy machine)")
    ap.add_argument("--warmup", type=int, default=200, help="warm-up queries before each timed point")
    ap.add_argument("--exact-warmup", type=int, default=20, help="warm-up queries before the timed exact scan")
    ap.add_argument("--exact-queries", type=int, default=200,
                    help="queries timed for the exact scan (the first N; it is slow and its recall is 1 by definition)")
    ap.add_argument("--explain", type=int, default=50,
                    help="per SQL point, EXPLAIN ANALYZE the first N queries for the server-side time and buffers")
    ap.add_argument("--no-pgvector", action="store_true", help="pgvector is not installed: skip it")
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--encoder", choices=["ember", "st"], default="ember")
    ap.add_argument("--model", default="/usr/share/postgresql/15/ember/models/all-MiniLM-L6-v2")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--cache", default="/var/tmp/ember-bench")
    ap.add_argument("--dbname", default="ivf_bench")
    ap.add_argument("--out", default="", help="report path (default benches/ivf/results-<date>[-dataset][-rowsN].md)")
    ap.add_argument("--command", default="", help="the command line to print in the report")
    args = ap.parse_args()
    H.PASSES = args.passes
    os.makedirs(args.cache, exist_ok=True)
    load_start = loadavg()
    so_start = so_state()
    log(f"load average {load_start}; {os.cpu_count()} CPUs; numpy {np.__version__}; ember.so {so_start}")

    conn_str = f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname={args.dbname}"
    retry = Retry(conn_str)
    conn = psycopg.connect(conn_str, autocommit=True)
    have = dict(conn.execute("SELECT name, installed_version FROM pg_available_extensions "
                             "WHERE name IN ('vector', 'ember')").fetchall())
    ember_am = conn.execute("SELECT count(*) FROM pg_am WHERE amname = 'ember_ivf'").fetchone()[0] == 1
    ember_ext = have.get("ember")
    pgvector = not args.no_pgvector and "vector" in have
    if pgvector:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        have["vector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    elif args.only != "ember":
        log("pgvector is not installed (set EMBER_PGVECTOR_SRC to its source, see benches/hnsw/README.md): skipping it")
    run_ember = args.only in ("all", "ember")
    if run_ember and not ember_am:
        msg = (f"ember_ivf is not an access method in database {args.dbname} (ember {ember_ext or 'not created'}): "
               "install the ember build that has it, then run benches/ivf/run.sh --only ember")
        if args.only == "ember":
            sys.exit("error: " + msg)
        log("skipping ember: " + msg)
        run_ember = False
    run_peers = args.only in ("all", "peers")

    if args.dataset == "wordnet":
        if args.encoder == "ember" and not ember_ext:
            sys.exit("error: encoding needs the ember extension in the bench database")
        base, queries, metric, key, desc = H.load_wordnet(args, conn)
    else:
        base, queries, metric, key, desc = H.load_fashion(args)
    if args.rows and args.rows < len(base):
        sel = np.sort(np.random.default_rng(42).choice(len(base), args.rows, replace=False))
        base = base[sel]
    rows_tag = f"rows{len(base)}"
    lists = args.lists or max(1, len(base) // 1000)
    probes = sorted({min(int(x), lists) for x in args.probes.split(",")})
    log(f"data: {len(base):,} x {base.shape[1]} indexed, {len(queries):,} queries, metric {metric}; "
        f"lists {lists}, probes {probes}")
    t = time.perf_counter()
    gt = H.ground_truth(base, queries, metric, 10, os.path.join(args.cache, f"{key}-{rows_tag}-q{len(queries)}-gt.npy"))
    log(f"ground truth (exact top-10, float64 numpy) ready in {time.perf_counter() - t:.1f} s")
    qtexts = [vec_text(q) for q in queries]

    resdir = os.path.join(args.cache, "results", f"ivf-{key}-{rows_tag}-q{len(queries)}-lists{lists}")
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
    holder = [conn, conn_str]
    nx = min(args.exact_queries, len(qtexts))
    errors = []
    methods = []  # in measuring order

    # --- load, exact scans, builds ------------------------------------------
    if run_peers and pgvector:
        H.load_table(holder[0], "items_pgvector", "vector", base)
        save(exact(holder, retry, "exact-pgvector", "items_pgvector", "vector", metric, qtexts[:nx], gt[:nx], args.exact_warmup))
        m = SqlIndex("pgvector", conn_str, metric, lists, retry)
        m.build()
        methods.append(m)
    if run_ember:
        try:
            H.load_table(holder[0], "items_ember", "embedding", base)
            save(exact(holder, retry, "exact-ember", "items_ember", "embedding", metric, qtexts[:nx], gt[:nx], args.exact_warmup))
            make_ember_full_table(holder[0])
            for name in ("ember-sq8", "ember-full"):
                m = SqlIndex(name, conn_str, metric, lists, retry)
                m.build()
                methods.append(m)
        except (psycopg.Error, RuntimeError) as e:  # report the peers all the same
            errors.append(f"ember: {type(e).__name__}: {e}")
            log("ERROR " + errors[-1])
            methods = [m for m in methods if not m.name.startswith("ember")]
    if run_peers:
        for name in LIB_METHODS:
            m = FaissIvf(name, base, queries, metric, lists, args.threads)
            m.build()
            methods.append(m)
    for m in methods:
        m.qtext0 = qtexts[0]
        if isinstance(m, SqlIndex):
            m.connect()

    # --- the probes sweep, interleaved -----------------------------------------
    agree = []
    failed = set()
    for i, pr in enumerate(probes):
        log(f"--- probes {pr} ({i + 1} of {len(probes)}), load average {loadavg()}")
        got = {}
        for m in methods:
            if m.name in failed:
                continue
            try:
                got[m.name] = m.point(pr, qtexts, gt, args.warmup, base, queries, args.explain)
            except (psycopg.Error, RuntimeError) as e:
                errors.append(f"{m.name} at probes {pr}: {type(e).__name__}: {e}")
                log("ERROR " + errors[-1])
                failed.add(m.name)
            save(m.result)
        if "ember-sq8" in got and "ember-full" in got:
            same = np.mean([set(a) == set(b) for a, b in zip(got["ember-sq8"], got["ember-full"])])
            agree.append((pr, float(same)))
            log(f"ember-sq8 and ember-full return the same top-10 set for {same:.1%} of the queries")

    if args.only == "ember":  # report against the peers of an earlier run
        for name in ("exact-pgvector", "pgvector") + LIB_METHODS:
            p = os.path.join(resdir, name + ".json")
            if name not in results and os.path.exists(p):
                results[name] = json.load(open(p))
                log(f"reusing {name} from the run of {results[name]['date']}")

    import faiss
    try:
        conn = psycopg.connect(conn_str, autocommit=True)
        sv = conn.info.server_version
    except psycopg.Error:
        sv = 0
    vers = [f"PostgreSQL {sv // 10000}.{sv % 100}", f"ember {ember_ext}",
            f"pgvector {have.get('vector') if pgvector else 'n/a'}",
            f"faiss-cpu {faiss.__version__} ({faiss.get_compile_options().strip()})",
            f"numpy {np.__version__}", f"psycopg {psycopg.__version__}", f"Python {platform.python_version()}"]
    info = {"dataset": args.dataset, "desc": desc, "rows": len(base), "queries": len(queries), "dim": base.shape[1],
            "metric": metric, "lists": lists, "date": datetime.date.today().isoformat(), "run_id": run_id,
            "machine": f"CPU {cpu_model()}, {os.cpu_count()} vCPU, "
                       f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB; server: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())),
            "versions": ", ".join(vers), "parallel_workers": pw,
            "command": args.command or " ".join(sys.argv), "load_start": load_start, "load_end": loadavg(),
            "so_start": so_start, "so_end": so_state(), "errors": errors, "reconnects": retry.events,
            "agree": agree, "exact_queries": nx}
    text = report(args, results, info)
    out = args.out
    if not out:
        here = os.path.dirname(os.path.abspath(__file__))
        suffix = ("-" + args.dataset if args.dataset != "wordnet" else "") + (f"-{rows_tag}" if args.rows else "")
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
