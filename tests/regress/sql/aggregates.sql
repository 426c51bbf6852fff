-- avg and sum, serial and parallel (combine function).
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::embedding), ('[3,4]'), (NULL)) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::halfembedding), ('[3,6]')) t(v);
SELECT avg(v) IS NULL AS empty_avg, sum(v) IS NULL AS empty_sum FROM (SELECT '[1]'::embedding WHERE false) t(v);
SELECT sqlstate_of($$SELECT avg(v) FROM (VALUES ('[1,2]'::embedding), ('[1]')) t(v)$$);
SELECT sqlstate_of($$SELECT sum(v) FROM (VALUES ('[3e38]'::embedding), ('[3e38]')) t(v)$$);
SELECT sqlstate_of($$SELECT sum(v) FROM (VALUES ('[60000]'::halfembedding), ('[60000]')) t(v)$$);
-- f64 accumulation: 1e8 + 1 + 1 - 1e8 is exact
SELECT sum(v) FROM (VALUES ('[100000000]'::embedding), ('[1]'), ('[1]'), ('[-100000000]')) t(v);
SELECT avg(v) FROM (VALUES ('[1e38]'::embedding), ('[1e38]'), ('[1e38]')) t(v);

CREATE TABLE agg AS SELECT i, ARRAY[i % 7, i % 3, 1]::embedding AS v, ARRAY[i % 5, 1]::halfembedding AS h
    FROM generate_series(1, 20000) i;
ANALYZE agg;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM agg;
SELECT avg(v), sum(v), avg(h), sum(h) FROM agg;
RESET ALL;
SELECT avg(v), sum(v), avg(h), sum(h) FROM agg;
DROP TABLE agg;
