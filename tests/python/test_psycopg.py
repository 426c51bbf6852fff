"""psycopg 3: text parameters, text and binary results, binary parameters."""
import struct

import psycopg
import pytest
from psycopg.adapt import Dumper


def to_text(values):
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def parse(text):
    return [float(x) for x in text.strip("[]").split(",")]


def test_insert_read_order_by_l2(conninfo):
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v embedding(3))")
        rows = [(1, [1, 1, 1]), (2, [2, 2, 2]), (3, [1, 1, 2]), (4, [-1, 0, 5])]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO items VALUES (%s, %s)", [(i, to_text(v)) for i, v in rows])
        got = conn.execute("SELECT id, v FROM items ORDER BY id").fetchall()
        assert [(i, parse(v)) for i, v in got] == [(i, [float(x) for x in v]) for i, v in rows]
        nearest = conn.execute(
            "SELECT id, v <-> %s AS d FROM items ORDER BY v <-> %s LIMIT 3", (to_text([1, 1, 1.2]),) * 2
        ).fetchall()
        assert [i for i, _ in nearest] == [1, 3, 2]
        assert nearest[0][1] == pytest.approx(0.2, abs=1e-6)


def test_typmod_and_bad_input_are_errors(conninfo):
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE t3 (v embedding(3))")
        with pytest.raises(psycopg.errors.DataException, match="expected 3 dimensions, not 2"):
            conn.execute("INSERT INTO t3 VALUES (%s)", ("[1,2]",))
    with psycopg.connect(conninfo) as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT %s::embedding", ("[1,x]",))


def test_binary_results_use_the_pgvector_wire_format(conninfo):
    with psycopg.connect(conninfo) as conn:
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT '[1.5,-2,3]'::embedding, '[0.5,2]'::halfembedding, '{2:1.5,4:-1}/5'::sparseembedding")
            e, h, s = cur.fetchone()
    assert struct.unpack(">hh3f", e) == (3, 0, 1.5, -2.0, 3.0)
    assert struct.unpack(">hh2e", h) == (2, 0, 0.5, 2.0)
    assert struct.unpack(">iii2i2f", s) == (5, 2, 0, 1, 3, 1.5, -1.0)


class RawEmbedding:
    """An embedding parameter sent in binary exactly as `payload` says."""

    def __init__(self, payload):
        self.payload = payload


def register_binary_dumper(conn):
    oid = conn.execute("SELECT 'embedding'::regtype::oid").fetchone()[0]

    class RawEmbeddingDumper(Dumper):
        format = psycopg.pq.Format.BINARY

        def dump(self, obj):
            return obj.payload

    RawEmbeddingDumper.oid = oid
    conn.adapters.register_dumper(RawEmbedding, RawEmbeddingDumper)


def test_binary_parameters(conninfo):
    with psycopg.connect(conninfo) as conn:
        register_binary_dumper(conn)
        v = RawEmbedding(struct.pack(">hh2f", 2, 0, 3.0, 4.0))
        assert conn.execute("SELECT %b::text, %b <-> '[0,0]'", (v, v)).fetchone() == ("[3,4]", 5.0)
    with psycopg.connect(conninfo) as conn:
        register_binary_dumper(conn)
        truncated = RawEmbedding(struct.pack(">hhf", 2, 0, 1.0))
        with pytest.raises(psycopg.errors.InvalidBinaryRepresentation):
            conn.execute("SELECT %b::text", (truncated,))
    with psycopg.connect(conninfo) as conn:
        register_binary_dumper(conn)
        nan = RawEmbedding(struct.pack(">hhf", 1, 0, float("nan")))
        with pytest.raises(psycopg.errors.DataException, match="NaN"):
            conn.execute("SELECT %b::text", (nan,))


def test_multiembedding_text_parameters(conninfo):
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE passages (id int PRIMARY KEY, toks multiembedding(2))")
        bags = {1: [[1, 0], [0, 1]], 2: [[0.9, 0.1]], 3: [[-1, 0]]}
        text = lambda bag: "[" + ",".join(to_text(t) for t in bag) + "]"
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO passages VALUES (%s, %s)", [(i, text(b)) for i, b in bags.items()])
        query = text([[1, 0], [0, 1]])
        got = conn.execute(
            "SELECT id, maxsim(toks, %s) FROM passages ORDER BY toks @# %s LIMIT 2", (query, query)
        ).fetchall()
        assert got == [(1, 2.0), (2, pytest.approx(1.0, abs=1e-6))]
        assert conn.execute("SELECT toks::text FROM passages WHERE id = 2").fetchone()[0] == "[[0.9,0.1]]"
        with pytest.raises(psycopg.errors.DataException, match="same dimensions"):
            conn.execute("SELECT %s::multiembedding", ("[[1,2],[3]]",))
