-- Every user-caused error is an ERROR with the right SQLSTATE.
-- malformed text (22P02)
SELECT sqlstate_of($$SELECT '1,2'::embedding$$);
SELECT sqlstate_of($$SELECT '[1,2'::embedding$$);
SELECT sqlstate_of($$SELECT '[1,,2]'::embedding$$);
SELECT sqlstate_of($$SELECT '[1,2,]'::embedding$$);
SELECT sqlstate_of($$SELECT '[1,a]'::embedding$$);
SELECT sqlstate_of($$SELECT '[1] extra'::embedding$$);
SELECT sqlstate_of($$SELECT '[1 2]'::halfembedding$$);
SELECT sqlstate_of($$SELECT '{1:1'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1}'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1}/'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1}/3x'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1=1}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{a:1}/3'::sparseembedding$$);
-- unsorted and duplicate sparse indices (22P02), out of range (22000)
SELECT sqlstate_of($$SELECT '{2:1,1:1}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1,1:2}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{0:1}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{4:1}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{-1:1}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1}/0'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '{1:1}/1000000001'::sparseembedding$$);
-- NaN and Infinity (22000), overflow (22003)
SELECT sqlstate_of($$SELECT '[NaN]'::embedding$$);
SELECT sqlstate_of($$SELECT '[1,Infinity]'::embedding$$);
SELECT sqlstate_of($$SELECT '[-inf]'::halfembedding$$);
SELECT sqlstate_of($$SELECT '{1:nan}/3'::sparseembedding$$);
SELECT sqlstate_of($$SELECT '[1e39]'::embedding$$);
SELECT sqlstate_of($$SELECT '[1e5]'::halfembedding$$);
-- empty and too many dimensions
SELECT sqlstate_of($$SELECT '[]'::embedding$$);
SELECT sqlstate_of($$SELECT '[]'::halfembedding$$);
SELECT sqlstate_of($$SELECT ('[' || repeat('1,', 16000) || '1]')::embedding$$);
SELECT sqlstate_of($$SELECT '[1]'::embedding || ('[' || repeat('1,', 15999) || '1]')::embedding$$);
-- dimension mismatch between operands (22000) and against the typmod
SELECT sqlstate_of($$SELECT '[1,2]'::embedding <-> '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding <#> '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding <=> '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding <+> '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::halfembedding <-> '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '{1:1}/2'::sparseembedding <-> '{1:1}/3'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding + '[1,2,3]'$$);
SELECT sqlstate_of($$SELECT '[1,2]'::embedding(3)$$);
SELECT sqlstate_of($$SELECT '{1:1}/2'::sparseembedding(3)$$);
-- arithmetic overflow (22003)
SELECT sqlstate_of($$SELECT '[3e38]'::embedding + '[3e38]'$$);
SELECT sqlstate_of($$SELECT '[-3e38]'::embedding - '[3e38]'$$);
SELECT sqlstate_of($$SELECT '[1e20]'::embedding * '[1e20]'$$);
SELECT sqlstate_of($$SELECT '[300]'::halfembedding * '[300]'$$);
-- bad subvector arguments (22000)
SELECT sqlstate_of($$SELECT subvector('[1,2,3]'::embedding, 1, 0)$$);
SELECT sqlstate_of($$SELECT subvector('[1,2,3]'::embedding, 4, 1)$$);
-- NULL in, NULL out
SELECT '[1,2]'::embedding <-> NULL IS NULL AS null_distance, dims(NULL::embedding) IS NULL AS null_dims;
