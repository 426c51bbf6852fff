-- Values stored out of line (TOAST). The executor computes `v <-> q` again
-- for every row an index scan returns; ember_hnsw and ember_ivf scans hand
-- it each row's value, so that reads no TOAST block, and gives exactly what
-- the table's value gives.
SET client_min_messages = warning;
SET enable_seqscan = off;
-- TOAST blocks of `tbl` that running `query` reads (this transaction's
-- count, before and after).
CREATE FUNCTION toast_blocks_read(tbl regclass, query text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    toast oid := (SELECT reltoastrelid FROM pg_class WHERE oid = tbl);
    before bigint := pg_stat_get_xact_blocks_fetched(toast);
BEGIN
    EXECUTE query;
    RETURN pg_stat_get_xact_blocks_fetched(toast) - before;
END $f$;
CREATE FUNCTION wide_value(i int) RETURNS embedding
    AS $$ SELECT ARRAY(SELECT sin(i * 0.37 + j * 1.3) + cos(i * j * 0.011) FROM generate_series(1, 600) j)::embedding $$
    LANGUAGE sql IMMUTABLE;
CREATE TABLE wide (id int PRIMARY KEY, note text, v embedding(600));
INSERT INTO wide SELECT i, 'row ' || i, wide_value(i) FROM generate_series(1, 300) i;
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line FROM pg_class WHERE relname = 'wide';
CREATE INDEX wide_v ON wide USING ember_hnsw (v embedding_l2_ops);
VACUUM ANALYZE wide;
SET plan_cache_mode = force_generic_plan;
PREPARE nearest(embedding) AS SELECT id, v <-> $1 FROM wide ORDER BY v <-> $1 LIMIT 5;
EXPLAIN (COSTS OFF) EXECUTE nearest(wide_value(17));
DEALLOCATE nearest;
RESET plan_cache_mode;

-- The TOAST blocks the distances through the index read, and the distances.
SELECT toast_blocks_read('wide', $$CREATE TABLE top5 AS
    SELECT id, round((v <-> wide_value(17))::numeric, 3) AS distance FROM wide ORDER BY v <-> wide_value(17) LIMIT 5$$);
SELECT * FROM top5 ORDER BY distance, id;
DROP TABLE top5;
-- Each returned row's distances, the ordering one and another, equal bit
-- for bit those of the table's value (read again by primary key).
CREATE TABLE wide_by_index AS
SELECT id, v <-> wide_value(17) AS d, v <-> wide_value(200) AS other FROM wide ORDER BY v <-> wide_value(17) LIMIT 20;
SELECT count(*) AS rows, count(*) FILTER (WHERE (d, other) = (SELECT w.v <-> wide_value(17), w.v <-> wide_value(200)
                                                              FROM wide w WHERE w.id = i.id)) AS same
FROM wide_by_index i;

-- After HOT updates (the row keeps its TOAST pointer) and updates of the
-- values (new pointers, new index entries), and a VACUUM.
UPDATE wide SET note = 'changed' WHERE id BETWEEN 1 AND 60;
UPDATE wide SET v = wide_value(1000 + id) WHERE id BETWEEN 61 AND 120;
DELETE FROM wide WHERE id BETWEEN 121 AND 140;
VACUUM wide;
DROP TABLE wide_by_index;
CREATE TABLE wide_by_index AS
SELECT id, v <-> wide_value(1070) AS d FROM wide ORDER BY v <-> wide_value(1070) LIMIT 20;
SELECT count(*) AS rows, count(*) FILTER (WHERE d = (SELECT w.v <-> wide_value(1070) FROM wide w WHERE w.id = i.id)) AS same
FROM wide_by_index i;
SELECT id, round(d::numeric, 3) AS distance FROM wide_by_index ORDER BY d, id LIMIT 3;
DROP TABLE wide_by_index;

-- A filter that drops most rows before their distance is computed: the
-- scan stops remembering rows after a few (their distances are not asked
-- for); the distances are still the table's values'.
SET ember.iterative_scan = relaxed_order;
CREATE TABLE wide_by_index AS SELECT id, v <-> wide_value(33) AS d FROM wide
WHERE id % 10 = 3 ORDER BY v <-> wide_value(33) LIMIT 12;
RESET ember.iterative_scan;
SELECT count(*) AS rows, count(*) FILTER (WHERE d = (SELECT w.v <-> wide_value(33) FROM wide w WHERE w.id = i.id)) AS same
FROM wide_by_index i;
DROP TABLE wide_by_index;

-- Cosine and inner product the same way.
DROP INDEX wide_v;
CREATE INDEX wide_v_cos ON wide USING ember_hnsw (v embedding_cosine_ops);
SELECT toast_blocks_read('wide', $$CREATE TABLE top3 AS
    SELECT id, round((v <=> wide_value(5))::numeric, 3) AS distance FROM wide ORDER BY v <=> wide_value(5) LIMIT 3$$);
SELECT * FROM top3 ORDER BY distance, id;
DROP TABLE top3;
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT id, round((v <=> wide_value(5))::numeric, 3) AS distance FROM wide ORDER BY v <=> wide_value(5) LIMIT 3;
RESET enable_indexscan;
SET enable_seqscan = off;
DROP INDEX wide_v_cos;
CREATE INDEX wide_v_ip ON wide USING ember_hnsw (v embedding_ip_ops);
SELECT id, round((v <#> wide_value(9))::numeric, 3) AS distance FROM wide ORDER BY v <#> wide_value(9) LIMIT 3;
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT id, round((v <#> wide_value(9))::numeric, 3) AS distance FROM wide ORDER BY v <#> wide_value(9) LIMIT 3;
RESET enable_indexscan;
SET enable_seqscan = off;

-- ember_ivf the same way where its lists hold the values (storage = full;
-- with sq8 codes, the default, the executor re-ranks on the table's values).
DROP INDEX wide_v_ip;
CREATE INDEX wide_v_ivf ON wide USING ember_ivf (v embedding_l2_ops) WITH (lists = 4, storage = full);
SET ember.ivf_probes = 4;
SELECT toast_blocks_read('wide', $$CREATE TABLE ivf_by_index AS
    SELECT id, v <-> wide_value(1050) AS d FROM wide ORDER BY v <-> wide_value(1050) LIMIT 10$$);
SELECT count(*) AS rows, count(*) FILTER (WHERE d = (SELECT w.v <-> wide_value(1050) FROM wide w WHERE w.id = i.id)) AS same
FROM ivf_by_index i;
RESET ember.ivf_probes;
DROP TABLE wide, ivf_by_index;
DROP FUNCTION wide_value(int);

-- halfembedding the same way (its index holds the values widened to f32,
-- which narrow back exactly).
CREATE FUNCTION half_value(i int) RETURNS halfembedding
    AS $$ SELECT ARRAY(SELECT sin(i * 0.37 + j * 1.3) FROM generate_series(1, 1200) j)::halfembedding $$
    LANGUAGE sql IMMUTABLE;
CREATE TABLE wide_half (id int PRIMARY KEY, v halfembedding(1200));
INSERT INTO wide_half SELECT i, half_value(i) FROM generate_series(1, 200) i;
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line FROM pg_class WHERE relname = 'wide_half';
CREATE INDEX ON wide_half USING ember_hnsw (v halfembedding_l2_ops);
SELECT toast_blocks_read('wide_half', $$CREATE TABLE half_by_index AS
    SELECT id, v <-> half_value(7) AS d FROM wide_half ORDER BY v <-> half_value(7) LIMIT 10$$);
SELECT count(*) AS rows, count(*) FILTER (WHERE d = (SELECT w.v <-> half_value(7) FROM wide_half w WHERE w.id = i.id)) AS same
FROM half_by_index i;
DROP TABLE wide_half, half_by_index;
DROP FUNCTION half_value(int), toast_blocks_read(regclass, text);
