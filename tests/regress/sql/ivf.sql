-- ember_ivf: options, opclasses × storage, plans, exact results, NULLs,
-- errors, inserts, VACUUM with space reuse, iterative scans, verify.
SET client_min_messages = warning;
SET enable_seqscan = off;

CREATE TABLE items (id int PRIMARY KEY, category int, v embedding(8), h halfembedding(8));
INSERT INTO items
SELECT i, i % 100,
       ARRAY(SELECT sin(i * 8 + j) FROM generate_series(1, 8) j)::embedding,
       ARRAY(SELECT sin(i * 8 + j) FROM generate_series(1, 8) j)::halfembedding
FROM generate_series(1, 2000) i;
INSERT INTO items VALUES (2001, 1, NULL, NULL), (2002, 1, '[0,0,0,0,0,0,0,0]', '[0,0,0,0,0,0,0,0]');

-- Option validation.
SELECT sqlstate_of('CREATE INDEX ON items USING ember_ivf (v) WITH (lists = -1)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_ivf (v) WITH (lists = 40000)');
SELECT sqlstate_of($$CREATE INDEX ON items USING ember_ivf (v) WITH (storage = 'pq')$$);
SELECT sqlstate_of('CREATE INDEX ON items USING ember_ivf (v, h)');
SELECT sqlstate_of('CREATE INDEX ON items USING ember_ivf (category)');

-- Every opclass with both storage kinds; with every list probed, the top 5
-- equal the exact scan's (codes are re-ranked on the exact values).
CREATE FUNCTION top5(expr text) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE r numeric[];
BEGIN
    EXECUTE format('SELECT array_agg(round(d::numeric, 5)) FROM (SELECT %s AS d FROM items ORDER BY %s LIMIT 5) t', expr, expr) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION exact_top5(expr text) RETURNS numeric[] LANGUAGE plpgsql AS $$
DECLARE r numeric[];
BEGIN
    SET LOCAL enable_indexscan = off;
    SET LOCAL enable_seqscan = on;
    EXECUTE format('SELECT array_agg(round(d::numeric, 5)) FROM (SELECT %s AS d FROM items ORDER BY %s LIMIT 5) t', expr, expr) INTO r;
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    RETURN r;
END $$;
CREATE TABLE opclasses (col text, opclass text, op text);
INSERT INTO opclasses VALUES
    ('v', 'embedding_l2_ops', '<->'), ('v', 'embedding_ip_ops', '<#>'),
    ('v', 'embedding_cosine_ops', '<=>'), ('v', 'embedding_l1_ops', '<+>'),
    ('h', 'halfembedding_l2_ops', '<->'), ('h', 'halfembedding_ip_ops', '<#>'),
    ('h', 'halfembedding_cosine_ops', '<=>'), ('h', 'halfembedding_l1_ops', '<+>');
SET ember.ivf_probes = 100;
SET client_min_messages = notice;
DO $$
DECLARE o record; s text; q text; plan text; line text;
BEGIN
    FOR o IN SELECT * FROM opclasses LOOP
        FOREACH s IN ARRAY ARRAY['sq8', 'full'] LOOP
            EXECUTE format('CREATE INDEX idx ON items USING ember_ivf (%s %s) WITH (lists = 16, storage = %s)', o.col, o.opclass, s);
            q := format('%s %s (SELECT %s FROM items WHERE id = 42)', o.col, o.op, o.col);
            plan := '';
            FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY ' || q || ' LIMIT 5' LOOP
                plan := plan || line;
            END LOOP;
            RAISE NOTICE '% %: index scan %, same top 5 as exact %, entries %', o.opclass, s,
                plan LIKE '%Index Scan using idx%', top5(q) = exact_top5(q), ember_ivf_verify('idx');
            DROP INDEX idx;
        END LOOP;
    END LOOP;
END $$;
SET client_min_messages = warning;

-- The default number of lists follows the row count (2,001 rows: 2 lists).
CREATE INDEX items_v ON items USING ember_ivf (v);
SELECT ember_ivf_verify('items_v');
-- Without ORDER BY the index is not used.
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v IS NOT NULL;
DROP INDEX items_v;

-- Few probes: a filtered query returns its full LIMIT only with an iterative scan.
CREATE INDEX items_v ON items USING ember_ivf (v) WITH (lists = 40);
SET ember.ivf_probes = 1;
SELECT count(*) < 10 AS short FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
SET ember.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
SET ember.ivf_max_probes = 2;
SELECT count(*) < 10 AS bounded FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
RESET ember.ivf_max_probes;
SET ember.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 10) t;
RESET ember.iterative_scan;
SET ember.ivf_probes = 40;

-- strict_order reads further lists before returning a row that a list not
-- yet read could beat (list radii), so a filtered query gets exactly the
-- exact scan's rows, in order, for both storage kinds.
CREATE TABLE spread (id int PRIMARY KEY, category int, v embedding(32));
INSERT INTO spread SELECT i, i % 100, (SELECT array_agg(x - floor(x) ORDER BY j)
    FROM (SELECT j, sin(i * 12.9898 + j * 78.233) * 43758.5453 AS x FROM generate_series(1, 32) j) s)::embedding
FROM generate_series(1, 5000) i;
CREATE TEMP TABLE exact_top AS SELECT array_agg(id) AS ids FROM (SELECT id FROM spread WHERE category = 7
    ORDER BY v <-> (SELECT v FROM spread WHERE id = 4242) LIMIT 10) t;
SET ember.ivf_probes = 1;
SET ember.iterative_scan = strict_order;
CREATE INDEX spread_v ON spread USING ember_ivf (v) WITH (lists = 50, storage = full);
SELECT array_agg(id) = (SELECT ids FROM exact_top) AS strict_full_exact FROM (SELECT id FROM spread WHERE category = 7
    ORDER BY v <-> (SELECT v FROM spread WHERE id = 4242) LIMIT 10) t;
DROP INDEX spread_v;
CREATE INDEX spread_v ON spread USING ember_ivf (v) WITH (lists = 50, storage = sq8);
SELECT array_agg(id) = (SELECT ids FROM exact_top) AS strict_sq8_exact FROM (SELECT id FROM spread WHERE category = 7
    ORDER BY v <-> (SELECT v FROM spread WHERE id = 4242) LIMIT 10) t;
RESET ember.iterative_scan;
SET ember.ivf_probes = 40;
DROP TABLE spread, exact_top;

-- Errors: dimensions of inserts and queries.
SELECT sqlstate_of($$INSERT INTO items VALUES (3000, 1, '[1,2,3]', NULL)$$);
SELECT sqlstate_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 1$$);
SELECT sqlstate_of($$SELECT ember_ivf_verify('items_pkey')$$);

-- Inserts land in their lists; VACUUM removes deleted rows, which are never
-- returned, and inserts reuse the room it frees.
INSERT INTO items SELECT i, 1, ARRAY(SELECT cos(i * 8 + j) FROM generate_series(1, 8) j)::embedding, NULL
FROM generate_series(3001, 3500) i;
SELECT ember_ivf_verify('items_v');
SELECT count(*) = 500 AS found FROM items i WHERE id > 3000
    AND (SELECT id FROM items ORDER BY v <-> i.v LIMIT 1) = i.id;
DELETE FROM items WHERE id % 2 = 0 AND id > 2;
VACUUM items;
SELECT ember_ivf_verify('items_v');
SELECT count(*) AS deleted_returned FROM (SELECT id FROM items ORDER BY v <-> '[1,0,0,0,0,0,0,0]' LIMIT 100) t WHERE id % 2 = 0 AND id > 2;
CREATE TEMP TABLE size_before AS SELECT pg_relation_size('items_v') AS bytes;
INSERT INTO items SELECT i, 1, ARRAY(SELECT sin(i * 5 + j) FROM generate_series(1, 8) j)::embedding, NULL
FROM generate_series(4001, 5000) i;
SELECT pg_relation_size('items_v') = (SELECT bytes FROM size_before) AS room_reused;
SELECT ember_ivf_verify('items_v');
REINDEX INDEX items_v;
SELECT ember_ivf_verify('items_v');

-- An empty table with a typmod, then inserts; without a typmod it is refused.
CREATE TABLE empty_then (v embedding(3));
CREATE INDEX empty_then_v ON empty_then USING ember_ivf (v) WITH (lists = 4);
INSERT INTO empty_then SELECT ARRAY[i, i * 2, 1]::embedding FROM generate_series(1, 50) i;
SELECT ember_ivf_verify('empty_then_v');
SELECT v FROM empty_then ORDER BY v <-> '[10,20,1]' LIMIT 1;
CREATE TABLE free (v embedding);
SELECT sqlstate_of('CREATE INDEX ON free USING ember_ivf (v)');
-- UNLOGGED tables.
CREATE UNLOGGED TABLE u (v embedding(2));
CREATE INDEX u_v ON u USING ember_ivf (v) WITH (lists = 2);
INSERT INTO u VALUES ('[1,1]'), ('[2,2]');
SELECT v FROM u ORDER BY v <-> '[2,2]' LIMIT 1;

-- Values of more dimensions than a centroid page holds are refused (54000).
CREATE TABLE wide (id int, v embedding(3072));
INSERT INTO wide SELECT 1, array_fill(1, ARRAY[3072])::embedding;
SELECT sqlstate_of('CREATE INDEX ON wide USING ember_ivf (v) WITH (lists = 1)');
-- Full values of 1,536 dimensions do fit, and so do their codes.
CREATE TABLE mid (id int, v embedding(1536));
INSERT INTO mid SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 0.011 * (1 + i % 5)) FROM generate_series(1, 1536) j)::embedding
FROM generate_series(1, 200) i;
CREATE INDEX mid_v ON mid USING ember_ivf (v) WITH (lists = 4);
CREATE INDEX mid_v_full ON mid USING ember_ivf (v) WITH (lists = 4, storage = full);
SELECT ember_ivf_verify('mid_v'), ember_ivf_verify('mid_v_full');
SELECT pg_relation_size('mid_v') < pg_relation_size('mid_v_full') / 2 AS codes_smaller;
DROP INDEX mid_v_full;
SELECT id FROM mid ORDER BY v <-> (SELECT v FROM mid WHERE id = 17) LIMIT 1;

-- Vectors too wide to stay in the row (784 x 4 bytes) are read from TOAST
-- by every distance a sequential scan computes. The distance functions'
-- support function prices that, so the planner keeps the index even when
-- the scan reads every list (without it, it picked a 25-50x slower seq scan).
SET enable_seqscan = on;
CREATE TABLE toasted (id int, v embedding(784));
INSERT INTO toasted SELECT i, ARRAY(SELECT ((i * 7 + j * 13) % 97)::float4 FROM generate_series(1, 784) j)::embedding
FROM generate_series(1, 3000) i;
ANALYZE toasted;
CREATE INDEX toasted_v ON toasted USING ember_ivf (v) WITH (lists = 10);
SET ember.ivf_probes = 10;
EXPLAIN (COSTS OFF) SELECT id FROM toasted ORDER BY v <-> (SELECT v FROM toasted WHERE id = 1) LIMIT 5;
SELECT id FROM toasted ORDER BY v <-> (SELECT v FROM toasted WHERE id = 1) LIMIT 1;
-- A query parameter is never read from TOAST, so a prepared statement's
-- generic plan costs what its custom plans cost and Postgres stops
-- planning every execution (it re-planned each one while parameters were
-- priced like the column).
PREPARE nearest_toasted(embedding) AS
    SELECT count(*) FROM (SELECT id FROM toasted ORDER BY v <-> $1 LIMIT 3) s;
EXECUTE nearest_toasted(array_fill(1::real, ARRAY[784])::embedding);
EXECUTE nearest_toasted(array_fill(2::real, ARRAY[784])::embedding);
EXECUTE nearest_toasted(array_fill(3::real, ARRAY[784])::embedding);
EXECUTE nearest_toasted(array_fill(4::real, ARRAY[784])::embedding);
EXECUTE nearest_toasted(array_fill(5::real, ARRAY[784])::embedding);
EXECUTE nearest_toasted(array_fill(6::real, ARRAY[784])::embedding);
SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'nearest_toasted';
EXPLAIN (COSTS OFF) EXECUTE nearest_toasted(array_fill(7::real, ARRAY[784])::embedding);
DEALLOCATE nearest_toasted;
DROP TABLE toasted;

-- Index pages a backend pins through the buffer it last found them in
-- (not through the buffer mapping) still count in pg_statio, as
-- ReadBuffer counts them: 20 scans reading every list count every page.
CREATE TABLE statio (id int, v embedding(32));
INSERT INTO statio SELECT i, (array_fill(1::real, ARRAY[28]) || ARRAY[i % 7, i % 11, i % 13, i % 5]::real[])::embedding
FROM generate_series(1, 3000) i;
CREATE INDEX statio_v ON statio USING ember_ivf (v) WITH (lists = 4, storage = full);
SELECT pg_relation_size('statio_v') / 8192 > 20 AS many_pages;
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE statio_before AS
    SELECT idx_blks_hit + idx_blks_read AS blocks FROM pg_statio_user_indexes WHERE indexrelname = 'statio_v';
SET ember.ivf_probes = 4;
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        PERFORM id FROM statio ORDER BY v <-> (array_fill(1::real, ARRAY[28]) || ARRAY[i, 1, 2, 3]::real[])::embedding LIMIT 1;
    END LOOP;
END $$;
SELECT pg_stat_force_next_flush();
SELECT s.idx_blks_hit + s.idx_blks_read - b.blocks >= 20 * (pg_relation_size('statio_v') / 8192 - 1) AS every_page_counted
FROM pg_statio_user_indexes s, statio_before b WHERE s.indexrelname = 'statio_v';
DROP TABLE statio, statio_before;

SELECT indexdef FROM pg_indexes WHERE indexname = 'empty_then_v';
DROP TABLE items, opclasses, empty_then, free, u, wide, mid;
DROP FUNCTION top5(text), exact_top5(text);
RESET ember.ivf_probes;
RESET enable_seqscan;
