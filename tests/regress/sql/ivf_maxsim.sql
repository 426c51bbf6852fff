-- ember_ivf over multiembedding: late interaction (MaxSim, @#) through the
-- index. Every token is an entry; each query token probes its lists; the
-- best ember.maxsim_candidates rows are re-ranked by exact MaxSim.
SET client_min_messages = warning;
SET enable_seqscan = off;

-- 300 documents of 3 to 8 unit token vectors (8 dimensions), a NULL one.
CREATE FUNCTION doc_of(i int, salt float8 DEFAULT 0) RETURNS multiembedding LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(l2_normalize(ARRAY(SELECT sin(i * 13 + t * 7 + j * 1.3 + salt) FROM generate_series(1, 8) j)::embedding) ORDER BY t)::multiembedding
    FROM generate_series(1, 3 + i % 6) t
$$;
CREATE TABLE docs (id int PRIMARY KEY, category int, doc multiembedding(8));
INSERT INTO docs SELECT i, i % 10, doc_of(i) FROM generate_series(1, 300) i;
INSERT INTO docs VALUES (301, 1, NULL);

CREATE FUNCTION scores(query multiembedding, k int) RETURNS numeric[] LANGUAGE sql AS $$
    SELECT array_agg(round(s::numeric, 4)) FROM (SELECT doc @# query AS s FROM docs ORDER BY doc @# query LIMIT k) t
$$;
CREATE FUNCTION exact_scores(query multiembedding, k int) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE r numeric[];
BEGIN
    SET LOCAL enable_indexscan = off;
    SET LOCAL enable_seqscan = on;
    r := scores(query, k);
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    RETURN r;
END $$;

-- The default opclass; the entry count is the number of tokens.
CREATE INDEX docs_doc ON docs USING ember_ivf (doc) WITH (lists = 8);
SELECT ember_ivf_verify('docs_doc') = (SELECT sum(token_count(doc)) FROM docs) AS one_entry_per_token;
SELECT opcname FROM pg_opclass c JOIN pg_index i ON c.oid = i.indclass[0] WHERE i.indexrelid = 'docs_doc'::regclass;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY doc @# (SELECT doc FROM docs WHERE id = 7) LIMIT 10;

-- With every list probed and every row a candidate, the index's top 10 are
-- the exact scan's, for both storage kinds.
SET ember.ivf_probes = 8;
SET ember.maxsim_candidates = 1000;
SELECT scores(doc_of(1000), 10) = exact_scores(doc_of(1000), 10) AS sq8_exact,
       scores(doc_of(2000, 0.5), 10) = exact_scores(doc_of(2000, 0.5), 10) AS sq8_exact_2;
CREATE INDEX docs_doc_full ON docs USING ember_ivf (doc multiembedding_maxsim_ops) WITH (lists = 8, storage = full);
DROP INDEX docs_doc;
SELECT ember_ivf_verify('docs_doc_full') = (SELECT sum(token_count(doc)) FROM docs) AS one_entry_per_token;
SELECT scores(doc_of(1000), 10) = exact_scores(doc_of(1000), 10) AS full_exact;
DROP INDEX docs_doc_full;
CREATE INDEX docs_doc ON docs USING ember_ivf (doc) WITH (lists = 8);

-- Every document is a best match for itself: its tokens are unit vectors,
-- so MaxSim is at most the query's token count, which it reaches (other
-- documents may tie). With one probe per query token and 10 candidates,
-- the index finds such a best match for almost every document.
SET ember.ivf_probes = 1;
SET ember.maxsim_candidates = 10;
SELECT count(*) AS best_found FROM docs d WHERE id <= 300
    AND (SELECT round((doc @# d.doc)::numeric, 4) FROM docs ORDER BY doc @# d.doc LIMIT 1) = -token_count(d.doc);
-- A scan returns at most ember.maxsim_candidates rows (before WHERE
-- conditions), so the planner uses the index only when that covers the
-- LIMIT: a larger LIMIT, OFFSET + LIMIT or no LIMIT scans the table.
SET ember.maxsim_candidates = 3;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY doc @# (SELECT doc FROM docs WHERE id = 7) LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY doc @# (SELECT doc FROM docs WHERE id = 7) LIMIT 2 OFFSET 2;
SELECT count(*) AS all_rows FROM (SELECT id FROM docs ORDER BY doc @# doc_of(1000) LIMIT 10) t;
SELECT count(*) AS no_limit FROM (SELECT id FROM docs ORDER BY doc @# doc_of(1000)) t;
-- WHERE conditions count by their estimated selectivity (here 1/10).
ANALYZE docs;
SET ember.maxsim_candidates = 100;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE category = 3 ORDER BY doc @# (SELECT doc FROM docs WHERE id = 7) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE category = 3 ORDER BY doc @# (SELECT doc FROM docs WHERE id = 7) LIMIT 20;
SET ember.maxsim_candidates = 1000;
SET ember.ivf_probes = 8;
SELECT count(*) AS filtered FROM (SELECT id FROM docs WHERE category = 3 ORDER BY doc @# doc_of(1000) LIMIT 10) t;
-- Rows come back in exact MaxSim order.
SELECT bool_and(s >= prev) AS ordered FROM (
    SELECT s, lag(s, 1, '-Infinity') OVER () AS prev FROM (SELECT doc @# doc_of(1000) AS s FROM docs ORDER BY doc @# doc_of(1000) LIMIT 50) t) o;

-- Errors: token dimensions of inserts and queries; the other AMs.
SELECT sqlstate_of($$INSERT INTO docs VALUES (400, 1, '[[1,2,3]]')$$);
SELECT sqlstate_of($$SELECT id FROM docs ORDER BY doc @# '[[1,2,3]]' LIMIT 1$$);
SELECT sqlstate_of('CREATE INDEX ON docs USING ember_hnsw (doc)');
CREATE OPERATOR CLASS hnsw_maxsim FOR TYPE multiembedding USING ember_hnsw AS
    OPERATOR 1 @# (multiembedding, multiembedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_maxsim(multiembedding, multiembedding);
SELECT sqlstate_of('CREATE INDEX ON docs USING ember_hnsw (doc hnsw_maxsim)');
DROP OPERATOR FAMILY hnsw_maxsim USING ember_hnsw;
CREATE TABLE sparse_docs (v sparseembedding(10));
SELECT sqlstate_of('CREATE INDEX ON sparse_docs USING ember_ivf (v sparseembedding_l2_ops)');
DROP TABLE sparse_docs;

-- Inserts (each token to its list), then VACUUM: deleted rows are never
-- returned, and the index holds exactly the live rows' tokens.
INSERT INTO docs SELECT i, i % 10, doc_of(i) FROM generate_series(1001, 1100) i;
SELECT ember_ivf_verify('docs_doc') = (SELECT sum(token_count(doc)) FROM docs) AS one_entry_per_token;
SELECT count(*) AS inserted_found FROM docs d WHERE id > 1000
    AND (SELECT round((doc @# d.doc)::numeric, 4) FROM docs ORDER BY doc @# d.doc LIMIT 1) = -token_count(d.doc);
DELETE FROM docs WHERE id % 2 = 0;
VACUUM docs;
SELECT ember_ivf_verify('docs_doc') = (SELECT sum(token_count(doc)) FROM docs) AS one_entry_per_token;
SELECT count(*) AS deleted_returned FROM (SELECT id FROM docs ORDER BY doc @# doc_of(1000) LIMIT 100) t WHERE id % 2 = 0;
SELECT scores(doc_of(1000), 10) = exact_scores(doc_of(1000), 10) AS still_exact;
REINDEX INDEX docs_doc;
SELECT ember_ivf_verify('docs_doc') = (SELECT sum(token_count(doc)) FROM docs) AS one_entry_per_token;

DROP TABLE docs;
DROP FUNCTION scores(multiembedding, int), exact_scores(multiembedding, int), doc_of(int, float8);
RESET ember.ivf_probes;
RESET ember.maxsim_candidates;
RESET enable_seqscan;
