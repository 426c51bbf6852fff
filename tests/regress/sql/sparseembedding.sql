-- sparseembedding: text I/O, typmod, distances, comparisons.
SELECT '{1:0.5,7:1.25}/30522'::sparseembedding;
SELECT ' { 1 : 1 , 3 : -2e-7 } / 5 '::sparseembedding;
SELECT '{1:1,2:0,3:3}/3'::sparseembedding AS zeros_dropped, '{}/4'::sparseembedding AS empty;
SELECT '{1:1}/1000000000'::sparseembedding;
SELECT dims('{1:1,3:2}/5'::sparseembedding), nnz('{1:1,3:2}/5'::sparseembedding), norm('{1:3,3:4}/5'::sparseembedding);
SELECT l2_normalize('{1:3,3:4}/5'::sparseembedding), l2_normalize('{}/5'::sparseembedding);

SELECT '{1:1,2:2}/3'::sparseembedding <-> '{2:2,3:1}/3' AS l2, l2_squared_distance('{1:1,2:2}/3'::sparseembedding, '{2:2,3:1}/3') AS l2sq;
SELECT '{1:1,2:2}/3'::sparseembedding <#> '{2:3,3:1}/3' AS neg_ip, inner_product('{1:1,2:2}/3'::sparseembedding, '{2:3,3:1}/3') AS ip;
SELECT '{1:1}/3'::sparseembedding <=> '{2:1}/3' AS orthogonal, '{1:1,2:1}/3'::sparseembedding <=> '{1:2,2:2}/3' AS same,
       '{}/3'::sparseembedding <=> '{1:1}/3' AS zero_is_nan;
SELECT '{1:1,2:2}/3'::sparseembedding <+> '{2:3,3:1}/3' AS l1;
-- sparse distances equal the dense ones
SELECT ('{1:1,2:2}/3'::sparseembedding <-> '{2:2,3:1}/3') = ('[1,2,0]'::embedding <-> '[0,2,1]') AS same_l2,
       ('{1:1,2:2}/3'::sparseembedding <+> '{2:3,3:1}/3') = ('[1,2,0]'::embedding <+> '[0,3,1]') AS same_l1;

SELECT '{1:1}/3'::sparseembedding = '{1:1}/3', '{1:1}/3'::sparseembedding = '{1:1}/4', '{1:1}/3'::sparseembedding < '{1:2}/3',
       '{2:1}/3'::sparseembedding < '{1:1}/3', '{1:-1}/3'::sparseembedding < '{}/3', '{}/3'::sparseembedding < '{}/4';
CREATE TABLE s (id int, v sparseembedding(5));
INSERT INTO s VALUES (1, '{1:1}/5'), (2, '{5:2}/5'), (3, '{1:1}/5'), (4, '{}/5');
SELECT v, count(*) FROM s GROUP BY v ORDER BY v;
SELECT id, v <-> '{1:1,5:1}/5' AS d FROM s ORDER BY d, id;
SELECT sqlstate_of($$INSERT INTO s VALUES (5, '{1:1}/6')$$);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 's'::regclass AND attname = 'v';
SELECT sqlstate_of($$CREATE TABLE bad (v sparseembedding(0))$$);
SELECT sqlstate_of($$CREATE TABLE bad (v sparseembedding(1000000001))$$);
SELECT sparseembedding_send('{2:1.5}/3');
DROP TABLE s;
