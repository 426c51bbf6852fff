"""MaxSim index benchmark: ember_ivf's multiembedding_maxsim_ops (`@#`,
negative MaxSim) against the exact scan, on late-interaction token vectors
of real text encoded in the server with embed_tokens(text[]).

Data: --docs (default 20,000) WordNet 3.0 glosses (Debian wordnet-base, the
loader of benches/hnsw/bench_hnsw.py), a seeded random choice among the
glosses that are not queries; --queries (default 100) other glosses held
out evenly (every n/q-th). Both are encoded with embed_tokens(text[]) in
SQL, in batches, into docs(id, body, toks multiembedding(384)) and
queries(qid, body, toks). The encoded tables are also saved as binary COPY
files under --cache, so a database re-created for a newer ember build is
loaded without re-encoding.

Ground truth: maxsim(toks, q) of every document for every query, computed
in SQL (and cross-checked in float64 numpy from the binary COPY); a
returned id is correct when its exact score is >= the 10th best exact score
minus 1e-6 (ties at the 10th place count).

Timed, single client, one statement text for both (prepared once per
connection, run with EXECUTE):
    SELECT id FROM docs ORDER BY toks @# (SELECT toks FROM queries WHERE qid = $1) LIMIT 10
exact: SET enable_indexscan = off, before any ember index exists; index:
for each index configuration (storage sq8 / full, lists default / other)
and each ember.ivf_probes x ember.maxsim_candidates, a warm-up pass over all
queries, then a timed pass; recall@10 and QPS each. EXPLAIN shows whether
the planner picks the index by itself; when it does not, the point is
measured with enable_seqscan = off and marked "forced".
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import struct
import subprocess
import sys
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hnsw"))
from bench_hnsw import wordnet_glosses, holdout_split, model_hash, log, cpu_model, loadavg  # noqa: E402

QUERY_SQL = "SELECT id FROM docs ORDER BY toks @# (SELECT toks FROM queries WHERE qid = $1) LIMIT 10"
EMBER_SO = "/usr/lib/postgresql/15/lib/ember.so"
PG_BIN = "/usr/lib/postgresql/15/bin"
INDEX = "docs_toks_idx"
EVENTS = []  # connection losses and other incidents, for the report


# --------------------------------------------------------------------------
# server and connections (the bench cluster is shared: another benchmark may
# restart or stop it, and a new ember.so installed under a running server
# can crash a backend, after which the postmaster restarts every backend)


def so_state():
    try:
        st = os.stat(EMBER_SO)
        return (f"{st.st_size:,} bytes, mtime "
                f"{datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')}")
    except OSError:
        return "absent"


class Server:
    def __init__(self, args):
        self.host, self.port = os.environ["PGHOST"], os.environ["PGPORT"]
        self.cluster_dir = os.environ.get("CLUSTER_DIR", "")
        self.marker = os.path.join(args.cache, "maxsim-started-cluster")

    def conn_str(self, db):
        return f"host={self.host} port={self.port} user=postgres dbname={db}"

    def connect(self, db):
        return psycopg.connect(self.conn_str(db), autocommit=True, connect_timeout=10)

    def running(self):
        if not self.cluster_dir:
            return True
        r = subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D",
                            os.path.join(self.cluster_dir, "data"), "status"], capture_output=True)
        return r.returncode == 0

    def wait(self, timeout=900):
        """Waits until the server accepts connections; starts it when it has
        been down for 20 s (another benchmark's run stops it on exit)."""
        t0 = time.perf_counter()
        down_since = None
        while True:
            try:
                with self.connect("postgres") as c:
                    c.execute("SELECT 1")
                return
            except psycopg.OperationalError as e:
                now = time.perf_counter()
                if now - t0 > timeout:
                    raise RuntimeError(f"the server did not come back within {timeout} s: {e}")
                if not self.running():
                    down_since = down_since or now
                    if now - down_since > 20:
                        log("the bench cluster is stopped: starting it again")
                        EVENTS.append(f"{stamp()} the bench cluster was stopped (by another run?): started it again")
                        subprocess.run(["runuser", "-u", "postgres", "--", "env", "-u", "RUST_BACKTRACE", "-u",
                                        "RUST_LIB_BACKTRACE", f"{PG_BIN}/pg_ctl", "-D",
                                        os.path.join(self.cluster_dir, "data"), "-w", "start", "-l",
                                        os.path.join(self.cluster_dir, "server.log")], capture_output=True)
                        open(self.marker, "w").write(stamp() + "\n")
                        down_since = None
                else:
                    down_since = None
                time.sleep(2)


def stamp():
    return datetime.datetime.now().strftime("%H:%M:%S")


TRANSIENT = re.compile(r"could not (load library|access file|find function)|ember\.so|terminating connection|"
                       r"server closed the connection|the database system is (starting up|shutting down|in recovery)")


def retry(server, what, fn, tries=5):
    """Runs fn() (which opens its own connections); when a connection breaks
    (or ember.so is being replaced), waits for the server and runs it again."""
    for attempt in range(tries):
        try:
            return fn()
        except psycopg.Error as e:
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
            if attempt == tries - 1 or not (isinstance(e, psycopg.OperationalError) or TRANSIENT.search(str(e))):
                raise
            log(f"{what}: {type(e).__name__}: {msg}; waiting for the server, then again")
            EVENTS.append(f"{stamp()} {what}: {type(e).__name__}: {msg} (ember.so: {so_state()})")
            time.sleep(5)
            server.wait()


# --------------------------------------------------------------------------
# the database: ember's objects must be those of the installed build (a new
# operator class arrives with a new build at the same extension version, so
# the database is re-created, never DROP EXTENSION ... CASCADE on the data)


FINGERPRINT_SQL = """
SELECT o.extversion, md5(string_agg(o.s, ',' ORDER BY o.s)), count(*),
       EXISTS (SELECT 1 FROM pg_opclass WHERE opcname = 'multiembedding_maxsim_ops')
FROM (SELECT e.extversion,
             pg_describe_object(d.classid, d.objid, d.objsubid)
             || coalesce((SELECT ':' || p.prosrc || ':' || p.procost || ':' || p.provolatile::text
                          FROM pg_proc p WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid), '') AS s
      FROM pg_extension e
      JOIN pg_depend d ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
      WHERE e.extname = 'ember') o
GROUP BY o.extversion"""


def installed_fingerprint(server):
    """ember's objects in a fresh database (extversion, md5, count, opclass)."""
    probe = "maxsim_bench_probe"

    def go():
        with server.connect("postgres") as c:
            c.execute(f"DROP DATABASE IF EXISTS {probe}")
            c.execute(f"CREATE DATABASE {probe} TEMPLATE template0")
        try:
            with server.connect(probe) as c:
                c.execute("CREATE EXTENSION ember")
                return c.execute(FINGERPRINT_SQL).fetchone()
        finally:
            with server.connect("postgres") as c:
                c.execute(f"DROP DATABASE IF EXISTS {probe}")
    return retry(server, "CREATE EXTENSION ember in a fresh database", go)


def db_exists(server, db):
    with server.connect("postgres") as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is not None


def db_state(server, db):
    """(fingerprint or None, data key or None) of the bench database."""
    with server.connect(db) as c:
        fp = c.execute(FINGERPRINT_SQL).fetchone()
        key = None
        if c.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()[0]:
            row = c.execute("SELECT key FROM bench_meta").fetchone()
            key = row[0] if row else None
        return fp, key


def recreate_db(server, db):
    with server.connect("postgres") as c:
        c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {db} TEMPLATE template0")
    with server.connect(db) as c:
        c.execute("CREATE EXTENSION ember")
        c.execute("CREATE TABLE bench_meta (key text NOT NULL, encode_s float8, encoded_at text)")
        c.execute("CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, toks multiembedding(384))")
        c.execute("CREATE TABLE queries (qid int PRIMARY KEY, body text NOT NULL, toks multiembedding(384))")


def copy_out(conn, table, path):
    with open(path + ".tmp", "wb") as f, conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as cp:
        for chunk in cp:
            f.write(chunk)
    os.replace(path + ".tmp", path)


def copy_in(conn, table, path):
    with open(path, "rb") as f, conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
        while chunk := f.read(1 << 20):
            cp.write(chunk)


def encode_into(server, db, table, idcol, ids, texts, batch):
    """INSERTs (id, text, embed_tokens(text[])) in batches, resuming after
    the ids already present; prints progress."""
    sql = (f"INSERT INTO {table} ({idcol}, body, toks) "
           "SELECT u.i, u.b, u.t FROM unnest(%s::int[], %s::text[], embed_tokens(%s::text[])) AS u(i, b, t)")
    t0 = time.perf_counter()
    done_at_start = None
    state = {"next": 0}

    def go():
        with server.connect(db) as c:
            have = {r[0] for r in c.execute(f"SELECT {idcol} FROM {table}")}
            nonlocal done_at_start
            todo = [k for k, i in enumerate(ids) if i not in have]
            if done_at_start is None:
                done_at_start = len(ids) - len(todo)
                if done_at_start:
                    log(f"  {table}: {done_at_start:,} rows already encoded, resuming")
            for start in range(0, len(todo), batch):
                ks = todo[start:start + batch]
                c.execute(sql, ([ids[k] for k in ks], [texts[k] for k in ks], [texts[k] for k in ks]))
                done = len(ids) - len(todo) + start + len(ks)
                state["next"] += 1
                if state["next"] % 10 == 0 or done == len(ids):
                    el = time.perf_counter() - t0
                    rate = (done - done_at_start) / max(el, 1e-9)
                    log(f"  {table}: encoded {done:,} / {len(ids):,} texts ({rate:.0f}/s, "
                        f"~{(len(ids) - done) / max(rate, 1e-9):.0f} s left; load {loadavg()})")
    retry(server, f"encoding {table}", go)
    return time.perf_counter() - t0


def prepare_data(args, server, texts, doc_idx, q_idx, key, fp_installed):
    """Makes the bench database hold exactly the wanted docs and queries with
    ember's current objects. Returns info about what was done."""
    db = args.dbname
    cdir = os.path.join(args.cache, "maxsim", key)
    os.makedirs(cdir, exist_ok=True)
    docs_bin, q_bin = os.path.join(cdir, "docs.copy"), os.path.join(cdir, "queries.copy")
    info = {"encoded": False, "loaded_from_cache": False}
    if db_exists(server, db):
        fp, have_key = retry(server, "reading the bench database", lambda: db_state(server, db))
        if fp is not None and fp[1] == fp_installed[1] and have_key == key:
            log(f"database {db} already holds the data ({key}) and ember's objects match the installed build: reused")
            with server.connect(db) as c:
                meta = c.execute("SELECT encode_s, encoded_at FROM bench_meta").fetchone()
            info.update({"reused": True, "encode_s": meta[0], "encoded_at": meta[1]})
            return info
        if have_key == key and not (os.path.exists(docs_bin) and os.path.exists(q_bin)):
            log(f"database {db} holds the data but ember's objects differ from the installed build: "
                f"saving the tables to {cdir} before re-creating it")
            with server.connect(db) as c:
                copy_out(c, "docs", docs_bin)
                copy_out(c, "queries", q_bin)
                meta = c.execute("SELECT encode_s, encoded_at FROM bench_meta").fetchone()
                json.dump({"encode_s": meta[0], "encoded_at": meta[1]}, open(os.path.join(cdir, "meta.json"), "w"))
        why = ("ember's objects differ from the installed build" if fp is None or fp[1] != fp_installed[1]
               else "it holds other data")
        log(f"re-creating database {db} ({why})")
    else:
        log(f"creating database {db}")
    retry(server, "creating the bench database", lambda: recreate_db(server, db))
    if os.path.exists(docs_bin) and os.path.exists(q_bin) and os.path.exists(os.path.join(cdir, "meta.json")):
        log(f"loading docs and queries from the binary COPY files in {cdir} (no re-encoding)")
        t0 = time.perf_counter()
        meta = json.load(open(os.path.join(cdir, "meta.json")))

        def load():
            with server.connect(db) as c:
                c.execute("TRUNCATE docs, queries, bench_meta")
                copy_in(c, "docs", docs_bin)
                copy_in(c, "queries", q_bin)
                c.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", (key, meta["encode_s"], meta["encoded_at"]))
        retry(server, "loading the cached tables", load)
        log(f"  loaded in {time.perf_counter() - t0:.1f} s")
        info.update({"loaded_from_cache": True, "encode_s": meta["encode_s"], "encoded_at": meta["encoded_at"]})
    else:
        log(f"encoding {len(doc_idx):,} documents and {len(q_idx):,} queries with embed_tokens(text[]) "
            f"in batches of {args.batch}")
        qs = encode_into(server, db, "queries", "qid", [int(i) for i in q_idx], [texts[i] for i in q_idx], args.batch)
        ds = encode_into(server, db, "docs", "id", [int(i) for i in doc_idx], [texts[i] for i in doc_idx], args.batch)
        at = datetime.datetime.now().isoformat(timespec="seconds")
        log(f"encoded in {ds + qs:.0f} s ({len(doc_idx) / ds:.0f} docs/s)")
        with server.connect(db) as c:
            c.execute("INSERT INTO bench_meta VALUES (%s, %s, %s)", (key, ds + qs, at))
            log(f"saving the encoded tables as binary COPY files in {cdir}")
            copy_out(c, "docs", docs_bin)
            copy_out(c, "queries", q_bin)
        json.dump({"encode_s": ds + qs, "encoded_at": at}, open(os.path.join(cdir, "meta.json"), "w"))
        info.update({"encoded": True, "encode_s": ds + qs, "encoded_at": at})
    with server.connect(db) as c:
        c.execute("VACUUM (ANALYZE) docs")
        c.execute("VACUUM (ANALYZE) queries")
        c.execute("CHECKPOINT")
    return info


def check_data(server, db, doc_idx, q_idx):
    with server.connect(db) as c:
        ids = sorted(r[0] for r in c.execute("SELECT id FROM docs"))
        qids = sorted(r[0] for r in c.execute("SELECT qid FROM queries"))
        if ids != sorted(int(i) for i in doc_idx) or qids != sorted(int(i) for i in q_idx):
            raise RuntimeError("the bench tables do not hold the chosen documents and queries")
        nulls = c.execute("SELECT (SELECT count(*) FROM docs WHERE toks IS NULL), "
                          "(SELECT count(*) FROM queries WHERE toks IS NULL)").fetchone()
        if any(nulls):
            raise RuntimeError(f"NULL token vectors: {nulls[0]} docs, {nulls[1]} queries")
        st = c.execute("SELECT sum(token_count(toks)), min(token_count(toks)), avg(token_count(toks)), "
                       "max(token_count(toks)), min(dims(toks)), max(dims(toks)) FROM docs").fetchone()
        qst = c.execute("SELECT sum(token_count(toks)), min(token_count(toks)), avg(token_count(toks)), "
                        "max(token_count(toks)) FROM queries").fetchone()
        sizes = c.execute("SELECT pg_total_relation_size('docs'), pg_relation_size('docs'), "
                          "pg_table_size('docs')").fetchone()
    return {"docs": len(ids), "queries": len(qids), "doc_tokens": int(st[0]), "doc_tokens_min": st[1],
            "doc_tokens_avg": float(st[2]), "doc_tokens_max": st[3], "dims": st[4],
            "query_tokens": int(qst[0]), "query_tokens_min": qst[1], "query_tokens_avg": float(qst[2]),
            "query_tokens_max": qst[3], "docs_total_bytes": sizes[0], "docs_heap_bytes": sizes[1],
            "docs_table_bytes": sizes[2]}


# --------------------------------------------------------------------------
# ground truth


def score_matrix(args, server, key, doc_ids, qids):
    """S[q, d] = maxsim(doc d, query q) computed by the server, cached."""
    path = os.path.join(args.cache, "maxsim", key, "scores.npy")
    if os.path.exists(path):
        S = np.load(path)
        if S.shape == (len(qids), len(doc_ids)):
            log(f"exact scores: cached {path}")
            return S
    pos = {d: k for k, d in enumerate(doc_ids)}
    S = np.full((len(qids), len(doc_ids)), np.nan)
    t0 = time.perf_counter()
    state = {"next": 0}

    def go():
        with server.connect(args.dbname) as c:
            c.execute("SET max_parallel_workers_per_gather = 0")
            for qi in range(state["next"], len(qids)):
                for i, s in c.execute("SELECT id, maxsim(toks, (SELECT toks FROM queries WHERE qid = %s)) FROM docs",
                                      (int(qids[qi]),)):
                    S[qi, pos[i]] = s
                state["next"] = qi + 1
                if (qi + 1) % 20 == 0:
                    log(f"  exact scores: {qi + 1} / {len(qids)} queries ({time.perf_counter() - t0:.0f} s)")
    retry(server, "exact scores", go)
    if np.isnan(S).any():
        raise RuntimeError("exact scores: some (query, doc) pairs got no score")
    np.save(path + ".tmp.npy", S)
    os.replace(path + ".tmp.npy", path)
    log(f"exact scores of {len(qids)} x {len(doc_ids):,} pairs in {time.perf_counter() - t0:.0f} s")
    return S


def read_copy_tokens(path, dims):
    """{id: float32 array (tokens x dims)} from a binary COPY file of
    (id int, body text, toks multiembedding)."""
    data = open(path, "rb").read()
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00", path
    ext = struct.unpack(">i", data[15:19])[0]
    p = 19 + ext
    out = {}
    while True:
        (nf,) = struct.unpack(">h", data[p:p + 2])
        p += 2
        if nf == -1:
            break
        vals = []
        for _ in range(nf):
            (n,) = struct.unpack(">i", data[p:p + 4])
            p += 4
            vals.append(None if n < 0 else data[p:p + n])
            p += max(n, 0)
        i = struct.unpack(">i", vals[0])[0]
        t = vals[2]
        dim, _, count = struct.unpack(">hhi", t[:8])
        assert dim == dims, (dim, dims)
        out[i] = np.frombuffer(t[8:], dtype=">f4").astype(np.float32).reshape(count, dim)
    return out


def numpy_check(args, key, S, doc_ids, qids, dims):
    """The server's scores against float64 numpy MaxSim on the same token
    vectors (from the binary COPY files). Returns (max abs diff, queries
    whose top-10 set differs by the threshold rule)."""
    cdir = os.path.join(args.cache, "maxsim", key)
    docs = read_copy_tokens(os.path.join(cdir, "docs.copy"), dims)
    qs = read_copy_tokens(os.path.join(cdir, "queries.copy"), dims)
    D = np.vstack([docs[i] for i in doc_ids]).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum([len(docs[i]) for i in doc_ids])[:-1]])
    maxdiff, bad = 0.0, 0
    for qi, q in enumerate(qids):
        sim = qs[q].astype(np.float64) @ D.T                     # query tokens x doc tokens
        best = np.maximum.reduceat(sim, starts, axis=1)          # query tokens x docs
        s = best.sum(axis=0)
        maxdiff = max(maxdiff, float(np.abs(s - S[qi]).max()))
        top_np = np.argsort(-s, kind="stable")[:10]
        thr = np.sort(S[qi])[::-1][9] - 1e-6
        if (S[qi][top_np] < thr - 1e-4).any():
            bad += 1
    return maxdiff, bad


def truth(S, doc_ids):
    """Per query: the 10th best exact score (the threshold) and the top-10 ids."""
    order = np.argsort(-S, axis=1, kind="stable")[:, :10]
    tenth = np.take_along_axis(S, order[:, 9:10], axis=1)[:, 0]
    return tenth, [[int(doc_ids[k]) for k in row] for row in order]


def evaluate(results, S, pos, tenth, k=10):
    """recall@10 by the threshold rule; queries with < 10 rows, with
    duplicate ids, or whose rows are not in non-increasing exact score."""
    hits, short, dup, disorder = 0, 0, 0, 0
    for qi, r in enumerate(results):
        r = r[:k]
        if len(r) < k:
            short += 1
        if len(set(r)) != len(r):
            dup += 1
        s = np.array([S[qi, pos[i]] for i in r])
        hits += len({i for i in r if S[qi, pos[i]] >= tenth[qi] - 1e-6})
        if len(s) > 1 and np.any(np.diff(s) > 1e-6 * np.maximum(1.0, np.abs(s[1:]))):
            disorder += 1
    return hits / (k * len(results)), short, dup, disorder


# --------------------------------------------------------------------------
# timing


def plan_text(conn, sql):
    return "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + sql).fetchall())


def explain_costs(conn, sql):
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())


def one_line(plan):
    return " / ".join(s.strip() for s in plan.splitlines())


def timed_pass(conn, qids):
    res = []
    t0 = time.perf_counter()
    for q in qids:
        res.append([r[0] for r in conn.execute(f"EXECUTE q({int(q)})").fetchall()])
    return time.perf_counter() - t0, res


def measure(server, args, qids, settings, what, warmup=None, check=None):
    """On a fresh connection: SETs, PREPARE, a warm-up pass (all queries, or
    `warmup` of them), then the fastest of --passes timed passes. Returns
    (qps, results, plan used by the prepared statement after the pass)."""
    def go():
        with server.connect(args.dbname) as c:
            for s in settings:
                c.execute(s)
            c.execute(f"PREPARE q(int) AS {QUERY_SQL}")
            timed_pass(c, qids if warmup is None else qids[:warmup])
            best = min((timed_pass(c, qids) for _ in range(args.passes)), key=lambda x: x[0])
            plan = plan_text(c, f"EXECUTE q({int(qids[0])})")
            return len(qids) / best[0], best[1], plan
    return retry(server, what, go)


def literal_sql(qid):
    return QUERY_SQL.replace("$1", str(int(qid)))


def run_exact(server, args, qids, S, pos, tenth, when):
    def plans():
        with server.connect(args.dbname) as c:
            default = plan_text(c, literal_sql(qids[0]))
            c.execute("SET enable_indexscan = off")
            return default, plan_text(c, literal_sql(qids[0]))
    default_plan, plan = retry(server, "exact plan", plans)
    if "Index Scan" in plan:
        raise RuntimeError(f"the exact plan uses an index:\n{plan}")
    log(f"exact ({when}): plan (enable_indexscan = off):\n    " + plan.replace("\n", "\n    "))
    qps, res, used = measure(server, args, qids, ["SET enable_indexscan = off"], f"exact scan ({when})",
                             warmup=args.exact_warmup)
    if "Index Scan" in used:
        raise RuntimeError(f"the exact scan's prepared statement used an index:\n{used}")
    r, short, dup, disorder = evaluate(res, S, pos, tenth)
    log(f"exact ({when}): {qps:.2f} QPS, recall@10 {r:.4f} (load {loadavg()})")
    if r < 1.0 or short or dup or disorder:
        EVENTS.append(f"exact scan ({when}): recall {r:.4f}, {short} short, {dup} with duplicates, {disorder} out of order "
                      "against the server's own maxsim() scores")
    return {"when": when, "qps": qps, "recall": r, "plan": plan, "plan_used": used, "default_plan": default_plan,
            "short": short, "dup": dup, "disorder": disorder, "load": loadavg(),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def build_index(server, args, storage, lists, qid):
    opts = [f"storage = {storage}"] + ([f"lists = {lists}"] if lists else [])
    ddl = f"CREATE INDEX {INDEX} ON docs USING ember_ivf (toks) WITH ({', '.join(opts)})"
    notices = []

    def go():
        notices.clear()
        with server.connect(args.dbname) as c:
            c.execute(f"DROP INDEX IF EXISTS {INDEX}")
            c.execute("CHECKPOINT")
        # CREATE INDEX as the first statement of its own connection (see
        # benches/hnsw/README.md: the idle-statistics timer).
        with server.connect(args.dbname) as bc:
            bc.add_notice_handler(lambda d: notices.append(d.message_primary))
            log(f"index: {ddl}")
            t0 = time.perf_counter()
            bc.execute(ddl)
            return time.perf_counter() - t0
    build = retry(server, f"CREATE INDEX ({storage}, lists {lists or 'default'})", go)

    def after():
        with server.connect(args.dbname) as c:
            size = c.execute(f"SELECT pg_relation_size('{INDEX}')").fetchone()[0]
            t0 = time.perf_counter()
            try:
                n = c.execute(f"SELECT ember_ivf_verify('{INDEX}')").fetchone()[0]
                verify = (n, time.perf_counter() - t0, None)
            except psycopg.errors.Error as e:
                if isinstance(e, psycopg.OperationalError):
                    raise
                verify = (None, time.perf_counter() - t0, f"{type(e).__name__}: {e}".strip())
            plan_default = explain_costs(c, literal_sql(qid))
            return size, verify, plan_default
    size, verify, plan_default = retry(server, "index size / verify", after)
    log(f"index: built in {build:.1f} s, {size / 2**20:.1f} MiB; ember_ivf_verify: "
        + (f"{verify[0]:,} entries ({verify[1]:.1f} s)" if verify[2] is None else f"FAILED {verify[2]}"))
    for n in notices:
        log(f"index: server notice: {n}")
    return {"ddl": ddl, "storage": storage, "lists": lists, "build_s": build, "size_bytes": size,
            "verify_entries": verify[0], "verify_error": verify[2], "notices": list(notices),
            "default_plan": plan_default, "load_after_build": loadavg()}


def run_sweep(server, args, qids, S, pos, tenth, cfg, exact_qps):
    points = []
    for probes in args.probes:
        for cand in args.candidates:
            gucs = [f"SET ember.ivf_probes = {probes}", f"SET ember.maxsim_candidates = {cand}"]

            def chosen():
                with server.connect(args.dbname) as c:
                    for s in gucs:
                        c.execute(s)
                    return plan_text(c, literal_sql(qids[0]))
            plan = retry(server, "EXPLAIN", chosen)
            picked = f"Index Scan using {INDEX}" in plan
            settings = list(gucs) + ([] if picked else ["SET enable_seqscan = off"])
            what = f"{cfg['name']} probes {probes} candidates {cand}"
            qps, res, used = measure(server, args, qids, settings, what)
            if f"Index Scan using {INDEX}" not in used:
                raise RuntimeError(f"{what}: the timed statement did not use {INDEX}:\n{used}")
            r, short, dup, disorder = evaluate(res, S, pos, tenth)
            p = {"probes": probes, "candidates": cand, "recall": r, "qps": qps, "speedup": qps / exact_qps,
                 "planner_picks_index": picked, "plan_if_not": None if picked else one_line(plan),
                 "short": short, "dup": dup, "disorder": disorder, "load": loadavg()}
            points.append(p)
            log(f"{cfg['name']}: probes {probes:2d} candidates {cand:3d}: recall@10 {r:.4f}, {qps:7.1f} QPS "
                f"({qps / exact_qps:5.1f}x exact){'' if picked else ' [planner chose no index: forced]'}"
                + (f" short {short}" if short else "") + (f" dup {dup}" if dup else "")
                + (f" disorder {disorder}" if disorder else "") + f" (load {p['load']})")
    return points


# --------------------------------------------------------------------------
# report


def fmt_int(x):
    return f"{x:,.0f}"


def report(args, info, data, exacts, configs, best):
    L = [f"# ember_ivf MaxSim index (`multiembedding_maxsim_ops`) vs exact `@#` scan", ""]
    L += [f"Date {info['date']} ({info['start']} to {info['end']}); {info['machine']}.",
          f"Versions: {info['versions']}.",
          f"Run: `{info['command']}`; load average (1 min) at start {info['load_start']}, at end {info['load_end']}.",
          ""]
    d = data
    L += ["## Data", "",
          f"- {d['docs']:,} documents: WordNet 3.0 glosses (Debian wordnet-base; {info['glosses']:,} distinct), "
          f"a seeded (42) random choice among those not held out as queries; {d['queries']} queries: held-out "
          f"glosses (every {info['q_step']}th).",
          f"- Encoded in the server with `embed_tokens(text[])` (all-MiniLM-L6-v2, 384-d unit token vectors), "
          f"{args.batch} texts per call: {info['encode_note']}.",
          f"- Document tokens: {d['doc_tokens']:,} in all (= index entries), {d['doc_tokens_min']}-"
          f"{d['doc_tokens_max']} per document, {d['doc_tokens_avg']:.1f} on average; query tokens "
          f"{d['query_tokens_min']}-{d['query_tokens_max']}, {d['query_tokens_avg']:.1f} on average.",
          f"- Table `docs`: {d['docs_total_bytes'] / 2**20:.0f} MiB with TOAST and primary key "
          f"(heap {d['docs_heap_bytes'] / 2**20:.1f} MiB, the token vectors are in TOAST).",
          f"- Ground truth: `maxsim(toks, q)` of every (query, document) pair in SQL; a returned id is correct "
          f"when its exact score >= the 10th best exact score - 1e-6. Cross-check in float64 numpy on the same "
          f"vectors: {info['numpy_check']}.", ""]
    L += ["## Method", "",
          "Single client, one connection per measured point (Unix socket), the same statement for the exact "
          "scan and the index:", "",
          f"    PREPARE q(int) AS {QUERY_SQL};", "    EXECUTE q(<qid>);  -- for each query", "",
          f"Per point: a warm-up pass over all {d['queries']} queries (exact scan: {args.exact_warmup}), then "
          + ("a timed pass" if args.passes == 1 else f"the fastest of {args.passes} timed passes")
          + "; QPS = queries / wall time of the pass. The exact scan runs with `SET enable_indexscan = off` "
          "(before any ember index exists, and after each configuration's sweep). Each index configuration is built alone (`CREATE INDEX` timed, as "
          "the first statement of a fresh connection, after a CHECKPOINT), checked with `ember_ivf_verify`, "
          "then swept over `ember.ivf_probes` x `ember.maxsim_candidates`. For each point `EXPLAIN` (no "
          "enable_* settings) shows whether the planner picks the index by itself; when it does not, the "
          "point is measured with `SET enable_seqscan = off` and marked *forced*. After the timed pass "
          "`EXPLAIN EXECUTE` must show the index scan.", ""]
    ex = exacts[0]
    fastest = max(e["qps"] for e in exacts)
    L += ["## Exact scan (baseline)", "",
          "Measured before any index exists and again after each configuration's sweep (same statement, "
          "`enable_indexscan = off`); each configuration's speed-ups are over the mean of the two exact "
          "measurements around it.", "",
          "| exact scan | QPS | recall@10 | load |", "|---|---:|---:|---:|"]
    for e in exacts:
        L.append(f"| {e['when']} | {e['qps']:.2f} | {e['recall']:.4f} | {e['load']} |")
    L += ["",
          f"- Plan with `enable_indexscan = off`: `{one_line(ex['plan'])}`",
          f"- Plan the prepared statement ran: `{one_line(ex['plan_used'])}`",
          f"- Planner's default plan without any index: `{one_line(ex['default_plan'])}`", ""]
    if not configs:
        L += ["## Index", "", f"**Not measured:** {info['no_index_reason']}", ""]
    else:
        L += ["## Index builds", "",
              "| configuration | lists | build s | index MiB | ember_ivf_verify entries | planner's default "
              "choice (probes 10, candidates 200) |", "|---|---:|---:|---:|---:|---|"]
        for c in configs:
            b = c["build"]
            ver = (fmt_int(b['verify_entries']) + ("" if b['verify_entries'] == d['doc_tokens'] else
                                                   f" (**expected {d['doc_tokens']:,}**)")
                   if b["verify_entries"] is not None else f"**error**: {b['verify_error']}")
            picks = f"Index Scan using {INDEX}" in b["default_plan"]
            lists = b["lists"] or f"default ({c['lists_resolved']})"
            L.append(f"| {c['name']} | {lists} | {b['build_s']:.1f} | "
                     f"{b['size_bytes'] / 2**20:.1f} | {ver} | {'index scan' if picks else '**no index**'} |")
        L += ["", "Default plans (EXPLAIN with costs, default settings, right after the build):", ""]
        for c in configs:
            L += [f"- {c['name']}: `{one_line(c['build']['default_plan'])}`"]
            if c["build"]["notices"]:
                L += [f"  - CREATE INDEX notices: " + "; ".join(c["build"]["notices"])]
        L += ["", "## Sweep", "",
              "Speed-up = QPS / the mean exact-scan QPS measured around the configuration (above). *forced*: the planner chose no index "
              "for this point by itself (measured with enable_seqscan = off). Load: 1-minute load average "
              "after the point.", "",
              "| configuration | probes | candidates | recall@10 | QPS | speed-up | planner | short / dup / "
              "disorder | load |", "|---|---:|---:|---:|---:|---:|---|---|---:|"]
        for c in configs:
            for p in c["points"]:
                mark = "**" if best and p is best["point"] else ""
                L.append(f"| {c['name']} | {p['probes']} | {p['candidates']} | {mark}{p['recall']:.4f}{mark} | "
                         f"{mark}{p['qps']:.1f}{mark} | {mark}{p['speedup']:.1f}x{mark} | "
                         f"{'index' if p['planner_picks_index'] else '*forced*'} | "
                         f"{p['short']} / {p['dup']} / {p['disorder']} | {p['load']} |")
        L += ["", "## Against the goal", ""]
        goal = f"recall@10 >= {args.target_recall} at >= {args.goal_speedup:g}x the exact scan's QPS"
        if best:
            p = best["point"]
            met = p["speedup"] >= args.goal_speedup
            L += [f"Best QPS with recall@10 >= {args.target_recall}: **{best['name']}, probes {p['probes']}, "
                  f"candidates {p['candidates']}: recall@10 {p['recall']:.4f}, {p['qps']:.1f} QPS = "
                  f"{p['speedup']:.1f}x the exact scan** ({p['qps'] / fastest:.1f}x the fastest exact measurement, "
                  f"{fastest:.2f} QPS; {'the planner picks the index' if p['planner_picks_index'] else 'forced: the planner does not pick the index'}). "
                  f"Goal ({goal}): **{'met' if met else 'not met'}**.", ""]
            for c in configs:
                ok = [q for q in c["points"] if q["recall"] >= args.target_recall]
                if ok:
                    b = max(ok, key=lambda q: q["qps"])
                    L.append(f"- {c['name']}: best {b['qps']:.1f} QPS ({b['speedup']:.1f}x) at probes {b['probes']}, "
                             f"candidates {b['candidates']}, recall {b['recall']:.4f}")
                else:
                    L.append(f"- {c['name']}: recall {args.target_recall} not reached "
                             f"(max {max(q['recall'] for q in c['points']):.4f})")
        else:
            L += [f"No point reached recall@10 {args.target_recall}. Goal ({goal}): **not met**."]
        forced = [(c["name"], p) for c in configs for p in c["points"] if not p["planner_picks_index"]]
        L += ["", f"Planner: it picked the index by itself at {sum(len(c['points']) for c in configs) - len(forced)} "
              f"of {sum(len(c['points']) for c in configs)} points."
              + ("" if not forced else " Not at: " + ", ".join(
                  f"{n} p{p['probes']}/c{p['candidates']}" for n, p in forced[:12])
                  + (" ..." if len(forced) > 12 else "")
                  + f". Its plan there: `{forced[0][1]['plan_if_not']}`")]
    if EVENTS:
        L += ["", "## Incidents during the run", ""] + [f"- {e}" for e in EVENTS]
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------


def parse_configs(s):
    out = []
    for part in s.split(","):
        storage, _, lists = part.strip().partition(":")
        if storage not in ("sq8", "full"):
            raise SystemExit(f"--configs: storage must be sq8 or full, not {storage!r}")
        out.append((storage, lists or "0"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--probes", default="1,2,4,8,16")
    ap.add_argument("--candidates", default="25,50,100,200,400")
    ap.add_argument("--configs", default="sq8,full,sq8:x4",
                    help="index configurations, storage[:lists]; lists 0 or absent = the default, xN = N times "
                         "the default (entries / 1000)")
    ap.add_argument("--only", choices=["all", "exact"], default="all", help="exact: data and exact scan only")
    ap.add_argument("--batch", type=int, default=128, help="texts per embed_tokens(text[]) call")
    ap.add_argument("--passes", type=int, default=2, help="timed passes per point, the fastest kept")
    ap.add_argument("--exact-warmup", type=int, default=5)
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--goal-speedup", type=float, default=10.0)
    ap.add_argument("--no-numpy-check", action="store_true")
    ap.add_argument("--model", default="/usr/share/postgresql/15/ember/models/all-MiniLM-L6-v2")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--cache", default="/var/tmp/ember-bench")
    ap.add_argument("--dbname", default="maxsim_bench")
    ap.add_argument("--out", default="", help="report path (default benches/maxsim_index/results-<date>.md)")
    ap.add_argument("--command", default="")
    args = ap.parse_args()
    args.probes = [int(x) for x in args.probes.split(",")]
    args.candidates = [int(x) for x in args.candidates.split(",")]
    configs_wanted = parse_configs(args.configs)
    os.makedirs(os.path.join(args.cache, "maxsim"), exist_ok=True)
    start = datetime.datetime.now()
    load_start = loadavg()
    so_start = so_state()
    log(f"load average {load_start}; {os.cpu_count()} CPUs; ember.so: {so_start}")
    server = Server(args)
    server.wait()

    texts = wordnet_glosses(args.wordnet)
    base_idx, q_idx = holdout_split(len(texts), args.queries)
    if args.docs > len(base_idx):
        raise SystemExit(f"--docs {args.docs} is more than the {len(base_idx):,} glosses available")
    doc_idx = np.sort(np.random.default_rng(42).choice(base_idx, args.docs, replace=False))
    log(f"WordNet: {len(texts):,} distinct glosses; {len(doc_idx):,} documents, {len(q_idx)} queries")
    th = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    mh = model_hash(args.model)
    key = f"{os.path.basename(args.model.rstrip('/'))}-m{mh[:12]}-t{th[:12]}-d{args.docs}-q{args.queries}"

    fp = installed_fingerprint(server)
    log(f"installed ember {fp[0]}: {fp[2]} objects, multiembedding_maxsim_ops "
        f"{'present' if fp[3] else 'ABSENT'} (in a fresh database)")
    dinfo = prepare_data(args, server, texts, doc_idx, q_idx, key, fp)
    data = retry(server, "checking the data", lambda: check_data(server, args.dbname, doc_idx, q_idx))
    log(f"data: {data['docs']:,} docs, {data['doc_tokens']:,} tokens ({data['doc_tokens_avg']:.1f}/doc), "
        f"{data['queries']} queries ({data['query_tokens_avg']:.1f} tokens/query), table "
        f"{data['docs_total_bytes'] / 2**20:.0f} MiB")
    doc_ids = [int(i) for i in doc_idx]
    qids = [int(i) for i in q_idx]
    pos = {d: k for k, d in enumerate(doc_ids)}
    S = score_matrix(args, server, key, doc_ids, qids)
    tenth, _ = truth(S, doc_ids)
    if args.no_numpy_check:
        npc = "skipped (--no-numpy-check)"
    else:
        t0 = time.perf_counter()
        maxdiff, bad = numpy_check(args, key, S, doc_ids, qids, data["dims"])
        npc = (f"largest |score difference| {maxdiff:.2e}, {bad} of {len(qids)} queries whose numpy top-10 "
               "misses the threshold by more than 1e-4")
        log(f"numpy check ({time.perf_counter() - t0:.0f} s): {npc}")
        if bad or maxdiff > 1e-3:
            EVENTS.append(f"numpy check of maxsim(): {npc}")

    resdir = os.path.join(args.cache, "results", f"maxsim-{key}")
    os.makedirs(resdir, exist_ok=True)
    with server.connect(args.dbname) as c:
        c.execute(f"DROP INDEX IF EXISTS {INDEX}")
    exacts = [run_exact(server, args, qids, S, pos, tenth, "before any index")]

    configs, no_index_reason = [], ""
    def opclass_here():
        with server.connect(args.dbname) as c:
            return c.execute("SELECT count(*) FROM pg_opclass WHERE opcname = 'multiembedding_maxsim_ops'").fetchone()[0] == 1
    have_opclass = retry(server, "opclass check", opclass_here)
    if args.only == "exact":
        no_index_reason = "`--only exact`"
    elif not have_opclass:
        no_index_reason = ("the installed ember build has no `multiembedding_maxsim_ops` operator class "
                           f"(ember.so: {so_state()}); install the build that has it and run "
                           "`benches/maxsim_index/run.sh` again")
        log("index: " + no_index_reason)
    else:
        default_lists = max(1, data["doc_tokens"] // 1000) if data["doc_tokens"] <= 1_000_000 else \
            int(data["doc_tokens"] ** 0.5)
        for storage, lists in configs_wanted:
            n = int(lists[1:]) * default_lists if lists.startswith("x") else int(lists)
            name = f"{storage}" + (f", lists {n}" if n else "")
            log(f"=== {name}")
            b = build_index(server, args, storage, n, qids[0])
            cfg = {"name": name, "build": b, "lists_resolved": n or default_lists}
            cfg["points"] = run_sweep(server, args, qids, S, pos, tenth, cfg, exacts[-1]["qps"])
            # the exact scan again (same plan: enable_indexscan = off), so
            # that each configuration is compared with the exact scan measured
            # around it on this shared machine
            exacts.append(run_exact(server, args, qids, S, pos, tenth, f"after {name}"))
            cfg["exact_qps"] = [exacts[-2]["qps"], exacts[-1]["qps"]]
            base = sum(cfg["exact_qps"]) / 2
            for p in cfg["points"]:
                p["speedup"] = p["qps"] / base
            configs.append(cfg)
            json.dump(cfg, open(os.path.join(resdir, f"{storage}-lists{n}.json"), "w"), indent=1)
        with server.connect(args.dbname) as c:
            c.execute(f"DROP INDEX IF EXISTS {INDEX}")

    best = None
    for c in configs:
        for p in c["points"]:
            if p["recall"] >= args.target_recall and (best is None or p["qps"] > best["point"]["qps"]):
                best = {"name": c["name"], "point": p}

    with server.connect(args.dbname) as c:
        pgv = c.execute("SHOW server_version").fetchone()[0]
        ext = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'ember'").fetchone()[0]
        settings = dict(c.execute("SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', "
                                  "'max_parallel_workers_per_gather', 'max_parallel_maintenance_workers', "
                                  "'maintenance_work_mem', 'work_mem', 'jit')").fetchall())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    if dinfo.get("encoded"):
        enc = f"encoded in this run in {dinfo['encode_s']:.0f} s"
    else:
        enc = (f"encoded {dinfo.get('encoded_at')} in {dinfo.get('encode_s') or 0:.0f} s, "
               + ("loaded from the binary COPY cache in this run" if dinfo.get("loaded_from_cache")
                  else "reused from the database"))
    info = {"date": start.date().isoformat(), "start": start.strftime("%H:%M"),
            "end": datetime.datetime.now().strftime("%H:%M"),
            "machine": f"CPU {cpu_model()}, {os.cpu_count()} vCPU, {mem:.1f} GiB; server: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())),
            "versions": f"PostgreSQL {pgv}, ember {ext} (ember.so at the end: {so_state()}"
                        + ("" if so_state() == so_start else f"; REPLACED during the run, at the start: {so_start}; "
                           "every measurement uses a fresh connection, so each ran the build installed at "
                           "its time") + f"), numpy {np.__version__}, "
                        f"psycopg {psycopg.__version__}, Python {platform.python_version()}",
            "command": args.command or " ".join(sys.argv), "load_start": load_start, "load_end": loadavg(),
            "glosses": len(texts), "q_step": len(texts) // args.queries, "encode_note": enc,
            "numpy_check": npc, "no_index_reason": no_index_reason}
    text = report(args, info, data, exacts, configs, best)
    out = args.out or os.path.join(HERE, f"results-{info['date']}"
                                   + ("" if args.docs == 20000 and args.queries == 100 else
                                      f"-docs{args.docs}-q{args.queries}") + ".md")
    with open(out, "w") as f:
        f.write(text)
    json.dump({"info": info, "data": data, "exact": exacts, "configs": configs, "events": EVENTS},
              open(os.path.join(resdir, "run.json"), "w"), indent=1)
    print()
    print(text)
    log(f"report written to {out}")


if __name__ == "__main__":
    main()
