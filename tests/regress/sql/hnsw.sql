-- ember_hnsw: options, opclasses, plans, results, NULLs, errors, verify.
SET client_min_messages = warning;
SET enable_seqscan = off;

-- 1,000 distinct deterministic 8-d vectors in a few categories.
CREATE TABLE items (id int PRIMARY KEY, category int, v embedding(8), h halfembedding(8), s sparseembedding(50));
INSERT INTO items
SELECT i, i % 100,
       ARRAY(SELECT sin(i * 8 + j) FROM generate_series(1, 8) j)::embedding,
       ARRAY(SELECT sin(i * 8 + j) FROM generate_series(1, 8) j)::halfembedding,
       ('{' || (i % 25) + 1 || ':' || sin(i) || ',' || (i * 7 % 23) + 26 || ':' || cos(i) || '}/50')::sparseembedding
FROM generate_series(1, 1000) i;
INSERT INTO items VALUES (1001, 1, NULL, NULL, NULL);

-- Option validation.
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (m = 1)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (m = 101)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (ef_construction = 3)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (m = 32, ef_construction = 40)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (lists = 4)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v, h)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (category)');

-- One index per opclass; each must return the exact top 5 on this small set
-- (compared by distance, rounded: near-duplicate rows may tie).
CREATE FUNCTION top5(expr text, tbl text DEFAULT 'items') RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE r numeric[];
BEGIN
    EXECUTE format('SELECT array_agg(round(d::numeric, 5)) FROM (SELECT %s AS d FROM %I ORDER BY %s LIMIT 5) t', expr, tbl, expr) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION exact_top5(expr text, tbl text DEFAULT 'items') RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE r numeric[];
BEGIN
    SET LOCAL enable_indexscan = off;
    SET LOCAL enable_seqscan = on;
    EXECUTE format('SELECT array_agg(round(d::numeric, 5)) FROM (SELECT %s AS d FROM %I ORDER BY %s LIMIT 5) t', expr, tbl, expr) INTO r;
    -- SET LOCAL lasts to the end of the transaction: undo it for the caller.
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    RETURN r;
END $$;

CREATE TABLE opclasses (col text, opclass text, op text);
INSERT INTO opclasses VALUES
    ('v', 'embedding_l2_ops', '<->'), ('v', 'embedding_ip_ops', '<#>'),
    ('v', 'embedding_cosine_ops', '<=>'), ('v', 'embedding_l1_ops', '<+>'),
    ('h', 'halfembedding_l2_ops', '<->'), ('h', 'halfembedding_ip_ops', '<#>'),
    ('h', 'halfembedding_cosine_ops', '<=>'), ('h', 'halfembedding_l1_ops', '<+>'),
    ('s', 'sparseembedding_l2_ops', '<->'), ('s', 'sparseembedding_ip_ops', '<#>'),
    ('s', 'sparseembedding_cosine_ops', '<=>'), ('s', 'sparseembedding_l1_ops', '<+>');

SET client_min_messages = notice;
DO $$
DECLARE o record; q text; got numeric[]; want numeric[]; plan text; line text;
BEGIN
    FOR o IN SELECT * FROM opclasses LOOP
        EXECUTE format('CREATE INDEX idx ON items USING ember_hnsw (%s %s)', o.col, o.opclass);
        q := format('%s %s (SELECT %s FROM items WHERE id = 42)', o.col, o.op, o.col);
        plan := '';
        FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY ' || q || ' LIMIT 5' LOOP
            plan := plan || line;
        END LOOP;
        got := top5(q);
        want := exact_top5(q);
        RAISE NOTICE '% %: index scan %, same top 5 as exact %, verify %', o.opclass, o.op,
            plan LIKE '%Index Scan using idx%', got = want, ember_hnsw_verify('idx');
        DROP INDEX idx;
    END LOOP;
END $$;
-- Unit vectors: the build links the graph over half precision for L2 and
-- inner product too (as always for cosine and halfembedding); the scan still
-- returns the exact top 5.
CREATE TABLE units AS SELECT id, l2_normalize(v) AS v FROM items WHERE v IS NOT NULL;
DO $$
DECLARE o record; q text;
BEGIN
    FOR o IN SELECT * FROM opclasses WHERE col = 'v' AND opclass IN ('embedding_l2_ops', 'embedding_ip_ops') LOOP
        EXECUTE format('CREATE INDEX idx ON units USING ember_hnsw (v %s)', o.opclass);
        q := format('v %s (SELECT v FROM units WHERE id = 42)', o.op);
        RAISE NOTICE 'unit vectors, %: same top 5 as exact %, verify %', o.opclass,
            top5(q, 'units') = exact_top5(q, 'units'), ember_hnsw_verify('idx');
        DROP INDEX idx;
    END LOOP;
END $$;
DROP TABLE units;
SET client_min_messages = warning;

-- The plan uses the index for ORDER BY ... LIMIT, not without ORDER BY.
CREATE INDEX items_v ON items USING ember_hnsw (v embedding_l2_ops) WITH (m = 8, ef_construction = 32);
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v <-> '[1,0,0,0,0,0,0,0]' < 1;
SELECT id, round((v <-> '[1,0,0,0,0,0,0,0]')::numeric, 4) AS d FROM items ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 3;
-- NULL values are not indexed; a NULL query returns rows in no particular order.
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> NULL LIMIT 5) t;
-- Wrong dimensions in the query.
SELECT sqlstate_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 1$$);
-- Wrong dimensions on insert into an untyped column.
CREATE TABLE free (v embedding);
CREATE INDEX ON free USING ember_hnsw (v);
INSERT INTO free VALUES ('[1,2]');
SELECT sqlstate_of($$INSERT INTO free VALUES ('[1,2,3]')$$);
-- A sparse value with too many non-zero elements for a page.
CREATE TABLE crowded (s sparseembedding(5000));
CREATE INDEX ON crowded USING ember_hnsw (s);
-- (the tuple's size depends on the element's random level: only the code and message shape)
SELECT regexp_replace(sqlstate_of($$INSERT INTO crowded SELECT array_fill(1, ARRAY[5000])::embedding::sparseembedding$$), '[0-9]+ bytes', 'N bytes') AS too_large;

-- Values too large for a page (3,072 and 4,096 dimensions) are stored as
-- 8-bit codes; the scan hands the executor lower bounds and it re-ranks on
-- the exact values, so the top 5 equal the exact scan's for every opclass.
CREATE TABLE wide (id int PRIMARY KEY, v embedding(3072), h halfembedding(4096));
INSERT INTO wide SELECT i,
    ARRAY(SELECT sin(i * 0.37 + j * 0.011 * (1 + i % 5)) + (i % 7) * 0.1 FROM generate_series(1, 3072) j)::embedding,
    ARRAY(SELECT cos(i * 0.29 + j * 0.013 * (1 + i % 3)) - (i % 4) * 0.1 FROM generate_series(1, 4096) j)::halfembedding
FROM generate_series(1, 300) i;
SET client_min_messages = notice;
DO $$
DECLARE o record; q text; plan text; line text;
BEGIN
    FOR o IN SELECT * FROM opclasses WHERE col <> 's' LOOP
        EXECUTE format('CREATE INDEX idx ON wide USING ember_hnsw (%s %s)', o.col, o.opclass);
        q := format('%s %s (SELECT %s FROM wide WHERE id = 42)', o.col, o.op, o.col);
        plan := '';
        FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM wide ORDER BY ' || q || ' LIMIT 5' LOOP
            plan := plan || line;
        END LOOP;
        RAISE NOTICE '% %: index scan %, same top 5 as exact %, verify %', o.opclass, o.op,
            plan LIKE '%Index Scan using idx%', top5(q, 'wide') = exact_top5(q, 'wide'), ember_hnsw_verify('idx');
        DROP INDEX idx;
    END LOOP;
END $$;
SET client_min_messages = warning;
-- Rows closer together than their codes can tell apart come back in exact
-- order (3, 4, 2, 5, 1): the executor re-ranks them on their values.
CREATE TABLE near (id int, v embedding(3072));
INSERT INTO near SELECT k, ARRAY(SELECT sin(j * 0.01) + CASE WHEN j = 1 THEN 0.001 * k ELSE 0 END
    FROM generate_series(1, 3072) j)::embedding FROM generate_series(1, 5) k;
CREATE INDEX near_v ON near USING ember_hnsw (v);
SELECT array_agg(id) AS exact_order FROM (SELECT id FROM near ORDER BY v <-> ARRAY(SELECT sin(j * 0.01)
    + CASE WHEN j = 1 THEN 0.0032 ELSE 0 END FROM generate_series(1, 3072) j)::embedding LIMIT 5) t;
-- Inserts and VACUUM on an index of codes; rows are found by their own value.
CREATE INDEX wide_v ON wide USING ember_hnsw (v embedding_cosine_ops);
INSERT INTO wide SELECT i, ARRAY(SELECT sin(i * 0.5 + j * 0.007) FROM generate_series(1, 3072) j)::embedding
FROM generate_series(301, 400) i;
DELETE FROM wide WHERE id % 3 = 0;
VACUUM wide;
SELECT ember_hnsw_verify('wide_v');
SELECT count(*) >= 65 AS found FROM wide w WHERE id > 300
    AND (SELECT id FROM wide ORDER BY v <=> w.v LIMIT 1) = w.id;
SELECT count(*) AS deleted_returned FROM (SELECT id FROM wide ORDER BY v <=> (SELECT v FROM wide WHERE id = 301) LIMIT 40) t
    WHERE id % 3 = 0;
-- Codes are a quarter of the values' size: the 400 elements take well
-- under half the bytes of their values.
SELECT pg_relation_size('wide_v') < 0.5 * 400 * 3072 * 4 AS smaller;
-- Without a typmod, the first value fixes the dimensions, and codes are chosen then.
CREATE TABLE wide_free (v embedding);
CREATE INDEX wide_free_v ON wide_free USING ember_hnsw (v);
INSERT INTO wide_free SELECT ARRAY(SELECT sin(i + j) FROM generate_series(1, 3072) j)::embedding FROM generate_series(1, 20) i;
SELECT sqlstate_of($$INSERT INTO wide_free SELECT array_fill(1, ARRAY[3071])::embedding$$);
SELECT sqlstate_of($$SELECT 1 FROM wide_free ORDER BY v <-> array_fill(1, ARRAY[3071])::embedding LIMIT 1$$);
SELECT ember_hnsw_verify('wide_free_v');
SELECT (SELECT v FROM wide_free ORDER BY v <-> ARRAY(SELECT sin(7 + j) FROM generate_series(1, 3072) j)::embedding LIMIT 1)
     = ARRAY(SELECT sin(7 + j) FROM generate_series(1, 3072) j)::embedding AS nearest_is_itself;

-- ef_search and iterative scans on a filtered query (1% of rows match).
SET ember.hnsw_ef_search = 10;
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 50) t;
-- off: at most one batch of ef_search rows is looked at, so few of them match
SELECT count(*) < 10 FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
SET ember.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
SET ember.iterative_scan = strict_order;
-- strict_order: 10 rows whose distances never decrease
SELECT count(*) AS rows, bool_and(d >= coalesce(prev, d)) AS ordered
FROM (SELECT d, lag(d) OVER (ORDER BY n) AS prev
      FROM (SELECT v <-> '[1,0,0,0,0,0,0,0]' AS d, row_number() OVER () AS n
            FROM (SELECT v FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) l) r) t;
SET ember.hnsw_max_scan_tuples = 20;
SELECT count(*) <= 10 FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
RESET ember.hnsw_max_scan_tuples;
RESET ember.iterative_scan;
RESET ember.hnsw_ef_search;
SELECT sqlstate_of('SET ember.hnsw_ef_search = 0');
SELECT sqlstate_of('SET ember.iterative_scan = sideways');

-- Neighbour codes (8-d L2: stored): scans skip elements by them unless
-- ember.hnsw_code_pruning is off; both find the exact top 10 here, and a
-- relaxed iterative scan still reaches every row once.
SHOW ember.hnsw_code_pruning;
SET enable_indexscan = off;
CREATE TEMP TABLE exact10 AS
    SELECT id FROM items ORDER BY v <-> '[0.3,-0.2,0.9,0,0.1,-0.5,0.4,0.2]' LIMIT 10;
RESET enable_indexscan;
SELECT count(*) AS pruning_on_in_exact FROM (SELECT id FROM items ORDER BY v <-> '[0.3,-0.2,0.9,0,0.1,-0.5,0.4,0.2]' LIMIT 10) t JOIN exact10 USING (id);
SET ember.hnsw_code_pruning = off;
SELECT count(*) AS pruning_off_in_exact FROM (SELECT id FROM items ORDER BY v <-> '[0.3,-0.2,0.9,0,0.1,-0.5,0.4,0.2]' LIMIT 10) t JOIN exact10 USING (id);
RESET ember.hnsw_code_pruning;
SET ember.iterative_scan = relaxed_order;
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM items ORDER BY v <-> '[0.3,-0.2,0.9,0,0.1,-0.5,0.4,0.2]' LIMIT 2000) t;
RESET ember.iterative_scan;

-- WITH (neighbour_codes = off): no codes next to the lists, so a smaller
-- index whose scans read every neighbour; same rows found, inserts keep
-- it valid.
SELECT sqlstate_of('CREATE INDEX ON items USING ember_hnsw (v) WITH (neighbour_codes = sometimes)');
CREATE TABLE items_nc AS SELECT id, v FROM items;
CREATE INDEX items_nc_v ON items_nc USING ember_hnsw (v embedding_l2_ops) WITH (m = 8, ef_construction = 32, neighbour_codes = off);
SELECT pg_relation_size('items_nc_v') < 0.8 * pg_relation_size('items_v') AS smaller;
SELECT count(*) AS no_codes_in_exact FROM (SELECT id FROM items_nc ORDER BY v <-> '[0.3,-0.2,0.9,0,0.1,-0.5,0.4,0.2]' LIMIT 10) t JOIN exact10 USING (id);
INSERT INTO items_nc SELECT id + 2000, v FROM items WHERE id <= 200;
SELECT ember_hnsw_verify('items_nc_v');
DROP TABLE items_nc;
DROP TABLE exact10;

-- Deletes: VACUUM removes them from the graph; they are never returned.
DELETE FROM items WHERE id % 3 = 0;
VACUUM items;
SELECT ember_hnsw_verify('items_v');
SET ember.iterative_scan = relaxed_order;
SELECT count(*) AS returned, count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned
FROM (SELECT id FROM items ORDER BY v <-> '[0,1,0,0,0,0,0,0]' LIMIT 1000) t;
RESET ember.iterative_scan;
-- Inserts after the build, then REINDEX.
INSERT INTO items SELECT i, i % 100, ARRAY(SELECT cos(i * 8 + j) FROM generate_series(1, 8) j)::embedding FROM generate_series(2001, 2300) i;
SELECT ember_hnsw_verify('items_v');
SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 2150) LIMIT 1;
REINDEX INDEX items_v;
SELECT ember_hnsw_verify('items_v');
SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 2150) LIMIT 1;
SELECT sqlstate_of($$SELECT ember_hnsw_verify('items_pkey')$$);

-- Updated rows: VACUUM removes the old versions and frees their tuples,
-- and the next new versions take them over, so the index grows only by
-- the few new elements that find no freed one of their level (without
-- the VACUUM, 400 new versions take about 60 pages).
CREATE TABLE churn (id int, v embedding(16)) WITH (autovacuum_enabled = off);
INSERT INTO churn SELECT i, ARRAY(SELECT sin(i * 0.7 + j) FROM generate_series(1, 16) j)::embedding
FROM generate_series(1, 1000) i;
CREATE INDEX churn_v ON churn USING ember_hnsw (v);
UPDATE churn SET v = ARRAY(SELECT cos(id * 0.3 + j) FROM generate_series(1, 16) j)::embedding WHERE id % 2 = 0;
VACUUM churn;
SELECT pg_relation_size('churn_v') AS churn_before \gset
UPDATE churn SET v = ARRAY(SELECT sin(id * 0.9 + j * 2) FROM generate_series(1, 16) j)::embedding
WHERE id % 2 = 0 AND id <= 800;
SELECT (pg_relation_size('churn_v') - :churn_before) / 8192 < 20 AS grew_under_20_pages;
SELECT ember_hnsw_verify('churn_v');
SET enable_seqscan = off;
SELECT id FROM churn ORDER BY v <-> (SELECT v FROM churn WHERE id = 400) LIMIT 1;
SELECT id FROM churn ORDER BY v <-> (SELECT v FROM churn WHERE id = 401) LIMIT 1;
RESET enable_seqscan;
DROP TABLE churn;

-- An index on an empty table, then inserts; cosine skips zero vectors.
CREATE TABLE empty_then (id int, v embedding(3));
CREATE INDEX empty_then_v ON empty_then USING ember_hnsw (v embedding_cosine_ops);
SELECT ember_hnsw_verify('empty_then_v');
SELECT id FROM empty_then ORDER BY v <=> '[1,1,1]' LIMIT 1;
INSERT INTO empty_then VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,0]'), (4, NULL);
SELECT ember_hnsw_verify('empty_then_v');
SELECT id FROM empty_then ORDER BY v <=> '[0.1,1,0]' LIMIT 5;

-- UNLOGGED and TEMP tables.
CREATE UNLOGGED TABLE u (v embedding(2));
CREATE INDEX u_v ON u USING ember_hnsw (v);
INSERT INTO u VALUES ('[1,1]'), ('[2,2]');
SELECT v FROM u ORDER BY v <-> '[2,2.1]' LIMIT 1;
CREATE TEMP TABLE t (v embedding(2));
CREATE INDEX t_v ON t USING ember_hnsw (v);
INSERT INTO t VALUES ('[1,1]'), ('[2,2]');
SELECT v FROM t ORDER BY v <-> '[1,1.1]' LIMIT 1;

-- A build that outgrows maintenance_work_mem says so and finishes on pages.
CREATE TABLE big (id int, v embedding(32));
INSERT INTO big SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.3) + cos(i * j * 0.011) FROM generate_series(1, 32) j)::embedding
FROM generate_series(1, 6000) i;
SET maintenance_work_mem = '1MB';
SET client_min_messages = notice;
CREATE INDEX big_v ON big USING ember_hnsw (v);
SET client_min_messages = warning;
RESET maintenance_work_mem;
SELECT ember_hnsw_verify('big_v');
-- each of 60 sampled rows is the top 1 for its own vector (allowing 2 misses:
-- the graph depends on thread timing and random levels)
SELECT count(*) >= 58 AS found FROM (SELECT b.id FROM big b
    WHERE (SELECT id FROM big ORDER BY v <-> b.v LIMIT 1) = b.id AND b.id % 100 = 0) t;

-- A build whose graph fits in maintenance_work_mem, but not with the
-- residuals that neighbour codes relative to each list's owner need, says
-- it makes centroid codes instead.
CREATE TABLE mid AS SELECT * FROM big WHERE id <= 2500;
SET maintenance_work_mem = '1MB';
SET client_min_messages = notice;
CREATE INDEX mid_v ON mid USING ember_hnsw (v);
SET client_min_messages = warning;
RESET maintenance_work_mem;
SELECT ember_hnsw_verify('mid_v');
-- ember_hnsw_info shows it, and what a build with enough memory makes.
SELECT dimensions, m, ef_construction, elements, stored, neighbour_codes FROM ember_hnsw_info('mid_v');
REINDEX INDEX mid_v;
SELECT neighbour_codes, pages > 0 AS has_pages, entry_level >= 0 AS has_entry FROM ember_hnsw_info('mid_v');
CREATE INDEX mid_ip ON mid USING ember_hnsw (v embedding_ip_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX mid_l1 ON mid USING ember_hnsw (v embedding_l1_ops);
SELECT i, f.dimensions, f.m, f.ef_construction, f.elements, f.entry_level, f.stored, f.neighbour_codes
FROM unnest(ARRAY['mid_ip', 'mid_l1']::regclass[]) i, ember_hnsw_info(i) f;
CREATE INDEX mid_id ON mid (id);
SELECT sqlstate_of($$SELECT ember_hnsw_info('mid_id')$$);
DROP TABLE big, mid;

-- Options are kept and shown.
SELECT indexdef FROM pg_indexes WHERE indexname = 'items_v';
DROP TABLE items, free, crowded, wide, near, wide_free, empty_then, u, t, opclasses;
DROP FUNCTION top5(text, text), exact_top5(text, text);
RESET enable_seqscan;

-- 768 dimensions (as many sentence models give): codes are stored where an
-- element and its coded lists fit a page, here one element per page (with
-- neighbour_codes = off, two). Inserts, VACUUM and scans keep them right.
CREATE TABLE mid768 (id int, v embedding(768)) WITH (autovacuum_enabled = off);
INSERT INTO mid768 SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 1.3 + i % 7)::real) FROM generate_series(1, 768) j)::embedding
FROM generate_series(1, 300) i;
CREATE INDEX mid768_v ON mid768 USING ember_hnsw (v embedding_cosine_ops);
CREATE INDEX mid768_nc ON mid768 USING ember_hnsw (v embedding_cosine_ops) WITH (neighbour_codes = off);
SELECT pg_relation_size('mid768_v') / 8192 AS coded_pages, pg_relation_size('mid768_nc') / 8192 AS plain_pages;
DROP INDEX mid768_nc;
INSERT INTO mid768 SELECT i, (SELECT array_agg(cos(i * 0.11 + j * 0.7)::real) FROM generate_series(1, 768) j)::embedding
FROM generate_series(301, 400) i;
DELETE FROM mid768 WHERE id % 4 = 0;
VACUUM mid768;
SELECT ember_hnsw_verify('mid768_v');
SET enable_seqscan = off;
SELECT id FROM mid768 ORDER BY v <=> (SELECT v FROM mid768 WHERE id = 123) LIMIT 1;
RESET enable_seqscan;
DROP TABLE mid768;

-- Inner product has neighbour codes too (the L2 codes, with the query
-- rotated whole): the index is larger than one without them, and scans
-- pruning by them find the exact top 10 of 5 queries, before and after
-- inserts and VACUUM (verify checks every stored code).
CREATE TABLE ip384 (id int, v embedding(384)) WITH (autovacuum_enabled = off);
INSERT INTO ip384 SELECT i, (SELECT array_agg((0.2 + sin(i * 0.37 + j * 1.3 + i % 7) * (1 + i % 3))::real) FROM generate_series(1, 384) j)::embedding
FROM generate_series(1, 1000) i;
CREATE INDEX ip384_v ON ip384 USING ember_hnsw (v embedding_ip_ops);
CREATE INDEX ip384_nc ON ip384 USING ember_hnsw (v embedding_ip_ops) WITH (neighbour_codes = off);
SELECT pg_relation_size('ip384_v') > 1.5 * pg_relation_size('ip384_nc') AS coded_is_larger;
DROP INDEX ip384_nc;
CREATE FUNCTION ip384_top10_found() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM ip384 q,
        LATERAL (SELECT id FROM ip384 ORDER BY v <#> q.v LIMIT 10) t
    WHERE q.id IN (11, 222, 333, 445, 999)
      AND t.id IN (SELECT e.id FROM ip384 e ORDER BY (e.v <#> q.v) + 0 LIMIT 10) $$;
SET enable_seqscan = off;
SELECT ip384_top10_found() AS found_of_50;
INSERT INTO ip384 SELECT i, (SELECT array_agg((0.2 + cos(i * 0.11 + j * 0.7) * (1 + i % 3))::real) FROM generate_series(1, 384) j)::embedding
FROM generate_series(1001, 1300) i;
DELETE FROM ip384 WHERE id % 4 = 0;
VACUUM ip384;
SELECT ember_hnsw_verify('ip384_v');
SELECT ip384_top10_found() AS found_of_50_after_vacuum;
RESET enable_seqscan;
DROP FUNCTION ip384_top10_found();
DROP TABLE ip384;

-- 1,536 dimensions: an element and its coded lists no longer fit one page,
-- so they take a page each, in the build and in every insert after it.
CREATE TABLE wide1536 (id int, v embedding(1536)) WITH (autovacuum_enabled = off);
INSERT INTO wide1536 SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 1.3 + i % 7)::real) FROM generate_series(1, 1536) j)::embedding
FROM generate_series(1, 150) i;
CREATE INDEX wide1536_v ON wide1536 USING ember_hnsw (v embedding_l2_ops);
CREATE INDEX wide1536_nc ON wide1536 USING ember_hnsw (v embedding_l2_ops) WITH (neighbour_codes = off);
SELECT pg_relation_size('wide1536_v') / 8192 AS coded_pages, pg_relation_size('wide1536_nc') / 8192 AS plain_pages;
DROP INDEX wide1536_nc;
INSERT INTO wide1536 SELECT i, (SELECT array_agg(cos(i * 0.11 + j * 0.7)::real) FROM generate_series(1, 1536) j)::embedding
FROM generate_series(151, 200) i;
SELECT pg_relation_size('wide1536_v') / 8192 AS pages_after_inserts;
DELETE FROM wide1536 WHERE id % 4 = 0;
VACUUM wide1536;
SELECT ember_hnsw_verify('wide1536_v');
-- VACUUM freed the deleted elements' two pages' worth of tuples, and new
-- rows take them over (appending, 30 rows would add about 60 pages).
SELECT pg_relation_size('wide1536_v') AS wide_before \gset
INSERT INTO wide1536 SELECT i, (SELECT array_agg(sin(i * 0.23 + j * 0.9)::real) FROM generate_series(1, 1536) j)::embedding
FROM generate_series(201, 230) i;
SELECT (pg_relation_size('wide1536_v') - :wide_before) / 8192 < 10 AS refill_reused_room;
SELECT ember_hnsw_verify('wide1536_v');
SET enable_seqscan = off;
SELECT id FROM wide1536 ORDER BY v <-> (SELECT v FROM wide1536 WHERE id = 177) LIMIT 1;
SELECT id FROM wide1536 ORDER BY v <-> (SELECT v FROM wide1536 WHERE id = 222) LIMIT 1;
RESET enable_seqscan;
DROP TABLE wide1536;
