-- multiembedding: a bag of float4 token vectors of one dimension (late
-- interaction, ColBERT-style). Text '[[1,2],[3,4]]'; typmod multiembedding(n)
-- fixes the dimension of every token vector.

CREATE TYPE multiembedding;

CREATE FUNCTION multiembedding_in(cstring, oid, integer) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_multiembedding_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION multiembedding_out(multiembedding) RETURNS cstring
    AS 'MODULE_PATHNAME', 'ember_multiembedding_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION multiembedding_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_multiembedding_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION multiembedding_recv(internal, oid, integer) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_multiembedding_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION multiembedding_send(multiembedding) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ember_multiembedding_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE multiembedding (
    INPUT = multiembedding_in, OUTPUT = multiembedding_out, TYPMOD_IN = multiembedding_typmod_in,
    RECEIVE = multiembedding_recv, SEND = multiembedding_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

CREATE FUNCTION multiembedding(multiembedding, integer, boolean) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_multiembedding_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (multiembedding AS multiembedding) WITH FUNCTION multiembedding(multiembedding, integer, boolean) AS IMPLICIT;

CREATE FUNCTION dims(multiembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_multiembedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION token_count(multiembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_multiembedding_token_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- maxsim(doc, query): for each query token, the best dot product with any
-- document token, summed. doc @# query is its negation, so that
-- ORDER BY doc @# query LIMIT k ranks the best documents first.
-- COST: a product of every query token with every document token (about
-- 0.1 ms for 32 x 100 tokens of 384 dimensions), so the planner weighs an
-- exact scan of many documents against an index scan that re-ranks a few.
CREATE FUNCTION maxsim(multiembedding, multiembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_multiembedding_maxsim' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
CREATE FUNCTION negative_maxsim(multiembedding, multiembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_multiembedding_negative_maxsim' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;
-- Not commutative: MaxSim is asymmetric.
CREATE OPERATOR @# (LEFTARG = multiembedding, RIGHTARG = multiembedding, FUNCTION = negative_maxsim);

-- Casts: embedding[] and real[][] (one row per token) to multiembedding, and back to embedding[].
CREATE FUNCTION array_to_multiembedding(embedding[], integer, boolean) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_embedding_array_to_multiembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_multiembedding(real[], integer, boolean) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_real_array_to_multiembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_multiembedding(double precision[], integer, boolean) RETURNS multiembedding
    AS $$ SELECT array_to_multiembedding($1::real[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION multiembedding_to_embedding_array(multiembedding) RETURNS embedding[]
    AS 'MODULE_PATHNAME', 'ember_multiembedding_to_embedding_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (embedding[] AS multiembedding) WITH FUNCTION array_to_multiembedding(embedding[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS multiembedding) WITH FUNCTION array_to_multiembedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS multiembedding) WITH FUNCTION array_to_multiembedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (multiembedding AS embedding[]) WITH FUNCTION multiembedding_to_embedding_array(multiembedding) AS ASSIGNMENT;
