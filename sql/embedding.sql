-- embedding: dense float4 vector, text '[1,2,3]', typmod embedding(n).
-- The I/O, layout and operator symbols follow pgvector so clients keep working.

CREATE TYPE embedding;

CREATE FUNCTION embedding_in(cstring, oid, integer) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_out(embedding) RETURNS cstring
    AS 'MODULE_PATHNAME', 'ember_embedding_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_embedding_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_recv(internal, oid, integer) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_send(embedding) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ember_embedding_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE external: float data does not compress, so skip the attempt but
-- still move large values out of line.
CREATE TYPE embedding (
    INPUT = embedding_in, OUTPUT = embedding_out, TYPMOD_IN = embedding_typmod_in,
    RECEIVE = embedding_recv, SEND = embedding_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

-- Enforces embedding(n) on assignment and explicit casts.
CREATE FUNCTION embedding(embedding, integer, boolean) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (embedding AS embedding) WITH FUNCTION embedding(embedding, integer, boolean) AS IMPLICIT;

-- Distances, by name and as operators.
-- The support function prices each call by the dimensions and, for values
-- too wide to stay in the row, by their TOAST reads (src/types/distance_cost.rs).
CREATE FUNCTION embedding_distance_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ember_embedding_distance_support' LANGUAGE C STRICT;
CREATE FUNCTION l2_distance(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;
CREATE FUNCTION l2_squared_distance(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;
CREATE FUNCTION inner_product(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;
CREATE FUNCTION negative_inner_product(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;
CREATE FUNCTION cosine_distance(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;
CREATE FUNCTION l1_distance(embedding, embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT embedding_distance_support;

CREATE OPERATOR <-> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = l1_distance, COMMUTATOR = '<+>');

-- Elementwise arithmetic and concatenation.
CREATE FUNCTION embedding_add(embedding, embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_sub(embedding, embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_mul(embedding, embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_concat(embedding, embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_sub);
CREATE OPERATOR * (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_concat);

-- Btree ordering, so DISTINCT, GROUP BY, ORDER BY and UNIQUE work.
CREATE FUNCTION embedding_lt(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_le(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_eq(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ne(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_ge(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_gt(embedding, embedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_embedding_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_cmp(embedding, embedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_embedding_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_eq,
    COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ne,
    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, PROCEDURE = embedding_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS embedding_ops DEFAULT FOR TYPE embedding USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 embedding_cmp(embedding, embedding);

-- Utilities.
CREATE FUNCTION dims(embedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_embedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION norm(embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_norm(embedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_embedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- NORMALIZE is an SQL keyword (normalize(text) is rewritten to pg_catalog's),
-- so the function is l2_normalize, as in pgvector; "normalize" also exists
-- for schema-qualified calls.
CREATE FUNCTION l2_normalize(embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION "normalize"(embedding) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(embedding, integer, integer) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION binary_quantize(embedding) RETURNS bit
    AS 'MODULE_PATHNAME', 'ember_embedding_binary_quantize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION embedding_to_real_array(embedding) RETURNS real[]
    AS 'MODULE_PATHNAME', 'ember_embedding_to_real_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (embedding AS real[]) WITH FUNCTION embedding_to_real_array(embedding) AS IMPLICIT;
