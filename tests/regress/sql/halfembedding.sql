-- halfembedding (same surface as embedding, half precision): text I/O, typmod, operators, functions, btree.
SELECT '[1,2,3]'::halfembedding;
SELECT ' [ 1.5 , -2e-3 , 3e+4 ] '::halfembedding;
SELECT '[0.1,1000,12345,-0]'::halfembedding;
SELECT '[1,2,3]'::halfembedding(3);
SELECT dims('[1,2,3,4]'::halfembedding);
SELECT norm('[3,4]'::halfembedding);
SELECT l2_normalize('[3,4]'::halfembedding), l2_normalize('[0,0]'::halfembedding);
SELECT subvector('[1,2,3,4,5]'::halfembedding, 2, 3), subvector('[1,2,3,4,5]'::halfembedding, 4, 10), subvector('[1,2,3]'::halfembedding, -1, 3);
SELECT binary_quantize('[1,-1,0,2,0.5,-3,1,1,1]'::halfembedding);

-- distances, by name and by operator
SELECT '[1,2,3]'::halfembedding <-> '[3,2,1]' AS l2, l2_distance('[1,2,3]'::halfembedding, '[3,2,1]') AS l2_fn,
       l2_squared_distance('[1,2,3]'::halfembedding, '[3,2,1]') AS l2sq;
SELECT '[1,2,3]'::halfembedding <#> '[3,2,1]' AS neg_ip, inner_product('[1,2,3]'::halfembedding, '[3,2,1]') AS ip,
       negative_inner_product('[1,2,3]'::halfembedding, '[3,2,1]') AS neg_ip_fn;
SELECT '[1,0]'::halfembedding <=> '[0,1]' AS orthogonal, '[1,1]'::halfembedding <=> '[2,2]' AS same,
       '[1,1]'::halfembedding <=> '[-1,-1]' AS opposite, cosine_distance('[1,2]'::halfembedding, '[2,4]') AS fn;
SELECT '[0,0]'::halfembedding <=> '[1,1]' AS zero_is_nan;
SELECT '[1,2,3]'::halfembedding <+> '[3,2,1]' AS l1, l1_distance('[1,-2]'::halfembedding, '[-1,2]') AS l1_fn;

-- arithmetic and concatenation
SELECT '[1,2,3]'::halfembedding + '[4,5,6]', '[1,2,3]'::halfembedding - '[4,5,6]', '[1,2,3]'::halfembedding * '[4,5,6]';
SELECT '[1,2]'::halfembedding || '[3]';

-- comparison and btree: =, <>, ordering, DISTINCT, GROUP BY, UNIQUE
SELECT '[1,2]'::halfembedding = '[1,2]', '[1,2]'::halfembedding <> '[1,2]', '[1,2]'::halfembedding < '[1,3]',
       '[1,2]'::halfembedding < '[1,2,0]', '[2]'::halfembedding > '[1,9]', '[1,2]'::halfembedding >= '[1,2]', '[1,2]'::halfembedding <= '[0,5]';
CREATE TABLE h (id int, v halfembedding(2));
INSERT INTO h VALUES (1, '[1,2]'), (2, '[0,1]'), (3, '[1,2]'), (4, NULL), (5, '[-1,5]');
SELECT v FROM h ORDER BY v;
SELECT DISTINCT v FROM h ORDER BY v;
SELECT v, count(*) FROM h GROUP BY v ORDER BY v;
CREATE UNIQUE INDEX h_unique ON h (v) WHERE id <> 3;
SELECT sqlstate_of($$INSERT INTO h VALUES (6, '[0,1]')$$);
SELECT id FROM h WHERE v = '[1,2]' ORDER BY id;
SELECT id, v <-> '[1,1]' AS d FROM h WHERE v IS NOT NULL ORDER BY v <-> '[1,1]', id;

-- typmod: enforced on insert, shown by \d
SELECT sqlstate_of($$INSERT INTO h VALUES (7, '[1,2,3]')$$);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'h'::regclass AND attname = 'v';
SELECT sqlstate_of($$CREATE TABLE bad (v halfembedding(0))$$);
SELECT sqlstate_of($$CREATE TABLE bad (v halfembedding(16001))$$);
SELECT sqlstate_of($$CREATE TABLE bad (v halfembedding(2,3))$$);

-- the largest embedding
SELECT dims(array_fill(1.5, ARRAY[16000])::real[]::halfembedding);
SELECT dims(('[' || repeat('1,', 15999) || '1]')::halfembedding);

-- binary send/recv through the wire format functions
SELECT halfembedding_send('[1,2.5]');
DROP TABLE h;
-- half precision: rounding and range
SELECT '[0.1,1.0009765625,65504]'::halfembedding;
SELECT sqlstate_of($$SELECT '[65520]'::halfembedding$$);
SELECT sqlstate_of($$SELECT '[60000]'::halfembedding + '[60000]'$$);
