-- multiembedding: a bag of token vectors; MaxSim scoring with @#.
SELECT '[[1,2],[3,4.5]]'::multiembedding;
SELECT ' [ [ 1 , 2 ] , [ 3 , 4 ] ] '::multiembedding(2);
SELECT '[[7]]'::multiembedding;
SELECT dims('[[1,2,3],[4,5,6]]'::multiembedding), token_count('[[1,2,3],[4,5,6]]'::multiembedding);

-- MaxSim: for each query token (right operand) the best dot product with the
-- document's tokens (left operand), summed; @# is its negation.
SELECT maxsim('[[1,0],[0,1]]', '[[1,0]]') AS doc_covers_query,
       maxsim('[[1,0]]', '[[1,0],[0,1]]') AS query_has_unmatched_token;
SELECT '[[1,0],[0,1]]'::multiembedding @# '[[1,0]]' AS neg, '[[1,0]]'::multiembedding @# '[[1,0],[0,1]]' AS neg_swapped;
SELECT maxsim('[[1,2],[3,4],[-1,0]]', '[[1,1],[0,-1],[2,0]]');
-- by hand: q1=[1,1] -> max(3,7,-1)=7; q2=[0,-1] -> max(-2,-4,0)=0; q3=[2,0] -> max(2,6,-2)=6; total 13

CREATE TABLE docs (id int, doc multiembedding(2));
INSERT INTO docs VALUES (1, '[[1,0],[0,1]]'), (2, '[[0.9,0.1]]'), (3, '[[-1,0],[0,-1]]'), (4, '[[0.5,0.5],[1,1]]');
SELECT id, doc @# '[[1,0],[0,1]]' AS score FROM docs ORDER BY doc @# '[[1,0],[0,1]]', id LIMIT 3;
SELECT sqlstate_of($$INSERT INTO docs VALUES (5, '[[1,2,3]]')$$);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'docs'::regclass AND attname = 'doc';
DROP TABLE docs;

-- casts: embedding[] and real[][] in, embedding[] out
SELECT ARRAY['[1,2]'::embedding, '[3,4]']::multiembedding;
SELECT ARRAY[[1,2],[3,4]]::real[]::multiembedding, ARRAY[[0.5,1.5]]::float8[]::multiembedding;
SELECT '[[1,2],[3,4]]'::multiembedding::embedding[];
SELECT (ARRAY['[1,2]'::embedding, '[3,4]']::multiembedding)::embedding[] = ARRAY['[1,2]'::embedding, '[3,4]'] AS round_trip;

-- binary form
SELECT multiembedding_send('[[1,2],[3,4]]');

-- errors
SELECT sqlstate_of($$SELECT '[]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[]]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[1,2],[3]]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[1,2],]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[1,2]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[1,NaN]]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[Infinity]]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[1e39]]'::multiembedding$$);
SELECT sqlstate_of($$SELECT '[[1,2]]'::multiembedding(3)$$);
SELECT sqlstate_of($$SELECT '[[1,2]]'::multiembedding @# '[[1,2,3]]'$$);
SELECT sqlstate_of($$SELECT ARRAY['[1,2]'::embedding, '[3]']::multiembedding$$);
SELECT sqlstate_of($$SELECT ARRAY['[1,2]'::embedding, NULL]::multiembedding$$);
SELECT sqlstate_of($$SELECT '{}'::embedding[]::multiembedding$$);
SELECT sqlstate_of($$SELECT ARRAY[1,2]::real[]::multiembedding$$);
SELECT sqlstate_of($$SELECT ('[[' || repeat('1,', 16000) || '1]]')::multiembedding$$);
SELECT sqlstate_of($$CREATE TABLE bad (m multiembedding(0))$$);
