-- embedding: text I/O, typmod, operators, functions, btree.
SELECT '[1,2,3]'::embedding;
SELECT ' [ 1.5 , -2e-7 , 3e+20 ] '::embedding;
SELECT '[0.1,100000,1234567,-0]'::embedding;
-- Values print as float4out (and pgvector) print them, through its own
-- function: the shortest digits that read back the same, a tie going to
-- the even digit (1808724.25 lies halfway between 1808724.2 and .3), one
-- digit more where the shortest lie on the edge of what reads back
-- (52460128: 5.246013e+07 would read back the same), over 20,000
-- magnitudes from 1e-38 to 1e38 and 10,000 such ties.
SELECT '[1808724.25,52460128]'::embedding, '{1:1808724.25,2:52460128}/2'::sparseembedding,
       '[[1808724.25,52460128]]'::multiembedding;
SELECT setseed(0.25);
SELECT count(*) AS values, count(*) FILTER (WHERE ARRAY[x]::embedding::text <> '[' || x::text || ']') AS unlike_float4out
FROM (SELECT ((random() - 0.5) * 10 ^ (random() * 76 - 38))::real AS x FROM generate_series(1, 20000)
      UNION ALL SELECT (i + 0.25)::real FROM generate_series(1048576, 1058575) i) s;
SELECT '[1,2,3]'::embedding(3);
SELECT dims('[1,2,3,4]'::embedding);
SELECT norm('[3,4]'::embedding);
SELECT l2_normalize('[3,4]'::embedding), l2_normalize('[0,0]'::embedding), public.normalize('[0,2]'::embedding), l2_norm('[3,4]'::embedding);
SELECT subvector('[1,2,3,4,5]'::embedding, 2, 3), subvector('[1,2,3,4,5]'::embedding, 4, 10), subvector('[1,2,3]'::embedding, -1, 3);
SELECT binary_quantize('[1,-1,0,2,0.5,-3,1,1,1]'::embedding);

-- distances, by name and by operator
SELECT '[1,2,3]'::embedding <-> '[3,2,1]' AS l2, l2_distance('[1,2,3]'::embedding, '[3,2,1]') AS l2_fn,
       l2_squared_distance('[1,2,3]'::embedding, '[3,2,1]') AS l2sq;
SELECT '[1,2,3]'::embedding <#> '[3,2,1]' AS neg_ip, inner_product('[1,2,3]'::embedding, '[3,2,1]') AS ip,
       negative_inner_product('[1,2,3]'::embedding, '[3,2,1]') AS neg_ip_fn;
SELECT '[1,0]'::embedding <=> '[0,1]' AS orthogonal, '[1,1]'::embedding <=> '[2,2]' AS same,
       '[1,1]'::embedding <=> '[-1,-1]' AS opposite, cosine_distance('[1,2]'::embedding, '[2,4]') AS fn;
SELECT '[0,0]'::embedding <=> '[1,1]' AS zero_is_nan;
SELECT '[1,2,3]'::embedding <+> '[3,2,1]' AS l1, l1_distance('[1,-2]'::embedding, '[-1,2]') AS l1_fn;

-- arithmetic and concatenation
SELECT '[1,2,3]'::embedding + '[4,5,6]', '[1,2,3]'::embedding - '[4,5,6]', '[1,2,3]'::embedding * '[4,5,6]';
SELECT '[1,2]'::embedding || '[3]';

-- comparison and btree: =, <>, ordering, DISTINCT, GROUP BY, UNIQUE
SELECT '[1,2]'::embedding = '[1,2]', '[1,2]'::embedding <> '[1,2]', '[1,2]'::embedding < '[1,3]',
       '[1,2]'::embedding < '[1,2,0]', '[2]'::embedding > '[1,9]', '[1,2]'::embedding >= '[1,2]', '[1,2]'::embedding <= '[0,5]';
CREATE TABLE e (id int, v embedding(2));
INSERT INTO e VALUES (1, '[1,2]'), (2, '[0,1]'), (3, '[1,2]'), (4, NULL), (5, '[-1,5]');
SELECT v FROM e ORDER BY v;
SELECT DISTINCT v FROM e ORDER BY v;
SELECT v, count(*) FROM e GROUP BY v ORDER BY v;
CREATE UNIQUE INDEX e_unique ON e (v) WHERE id <> 3;
SELECT sqlstate_of($$INSERT INTO e VALUES (6, '[0,1]')$$);
SELECT id FROM e WHERE v = '[1,2]' ORDER BY id;
SELECT id, v <-> '[1,1]' AS d FROM e WHERE v IS NOT NULL ORDER BY v <-> '[1,1]', id;

-- typmod: enforced on insert, shown by \d
SELECT sqlstate_of($$INSERT INTO e VALUES (7, '[1,2,3]')$$);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'e'::regclass AND attname = 'v';
SELECT sqlstate_of($$CREATE TABLE bad (v embedding(0))$$);
SELECT sqlstate_of($$CREATE TABLE bad (v embedding(16001))$$);
SELECT sqlstate_of($$CREATE TABLE bad (v embedding(2,3))$$);

-- the largest embedding
SELECT dims(array_fill(1.5, ARRAY[16000])::real[]::embedding);
SELECT dims(('[' || repeat('1,', 15999) || '1]')::embedding);

-- binary send/recv through the wire format functions
SELECT embedding_send('[1,2.5]');
DROP TABLE e;
