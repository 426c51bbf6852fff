-- Casts from arrays and between the three types.
SELECT ARRAY[1,2,3]::embedding, ARRAY[1.5,2.5]::real[]::embedding, ARRAY[1.5,2.5]::float8[]::embedding, ARRAY[1.25,2]::numeric[]::embedding;
SELECT ARRAY[1,2,3]::halfembedding, ARRAY[1.5,2.5]::real[]::halfembedding, ARRAY[0.1]::float8[]::halfembedding, ARRAY[1.25]::numeric[]::halfembedding;
SELECT ARRAY[1,2,3]::embedding(3);
SELECT '[1,2.5]'::embedding::real[], '[1,2.5]'::halfembedding::real[];
SELECT '[1,0,2.5]'::embedding::halfembedding, '[1,0,2.5]'::halfembedding::embedding;
SELECT '[1,0,2.5,0]'::embedding::sparseembedding, '[0,0,3]'::halfembedding::sparseembedding;
SELECT '{1:1,3:2.5}/4'::sparseembedding::embedding, '{2:0.5}/3'::sparseembedding::halfembedding;
SELECT '[1,0,2]'::embedding::sparseembedding::embedding = '[1,0,2]'::embedding AS round_trip;
-- assignment casts on insert
CREATE TABLE c (e embedding(2), h halfembedding(2), s sparseembedding(2));
INSERT INTO c VALUES (ARRAY[1,2], ARRAY[3,4]::real[], '[0,5]'::embedding);
INSERT INTO c (h) VALUES ('[1,2]'::embedding);
SELECT * FROM c;
-- errors
SELECT sqlstate_of($$SELECT ARRAY[1,NULL]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY[[1,2],[3,4]]::embedding$$);
SELECT sqlstate_of($$SELECT '{}'::real[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY['NaN']::float8[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY['Infinity']::float8[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY[1e300]::float8[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY['NaN']::numeric[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY[1e40]::numeric[]::embedding$$);
SELECT sqlstate_of($$SELECT ARRAY[70000]::halfembedding$$);
SELECT sqlstate_of($$SELECT ARRAY[1,2,3]::embedding(2)$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding::halfembedding(3)$$);
SELECT sqlstate_of($$SELECT '{1:1}/16001'::sparseembedding::embedding$$);
SELECT sqlstate_of($$SELECT '{1:70000}/3'::sparseembedding::halfembedding$$);
SELECT sqlstate_of($$SELECT array_fill(1, ARRAY[16001])::embedding$$);
DROP TABLE c;
