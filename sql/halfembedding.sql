-- halfembedding: dense float2 (half precision) vector, text '[1,2,3]' like embedding, typmod halfembedding(n); values beyond +-65504 are refused.
-- The I/O, layout and operator symbols follow pgvector so clients keep working.

CREATE TYPE halfembedding;

CREATE FUNCTION halfembedding_in(cstring, oid, integer) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_out(halfembedding) RETURNS cstring
    AS 'MODULE_PATHNAME', 'ember_halfembedding_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_halfembedding_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_recv(internal, oid, integer) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_send(halfembedding) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ember_halfembedding_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE external: float data does not compress, so skip the attempt but
-- still move large values out of line.
CREATE TYPE halfembedding (
    INPUT = halfembedding_in, OUTPUT = halfembedding_out, TYPMOD_IN = halfembedding_typmod_in,
    RECEIVE = halfembedding_recv, SEND = halfembedding_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

-- Enforces halfembedding(n) on assignment and explicit casts.
CREATE FUNCTION halfembedding(halfembedding, integer, boolean) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (halfembedding AS halfembedding) WITH FUNCTION halfembedding(halfembedding, integer, boolean) AS IMPLICIT;

-- Distances, by name and as operators.
-- The support function prices each call by the dimensions and, for values
-- too wide to stay in the row, by their TOAST reads (src/types/distance_cost.rs).
CREATE FUNCTION halfembedding_distance_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ember_halfembedding_distance_support' LANGUAGE C STRICT;
CREATE FUNCTION l2_distance(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;
CREATE FUNCTION l2_squared_distance(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;
CREATE FUNCTION inner_product(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;
CREATE FUNCTION negative_inner_product(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;
CREATE FUNCTION cosine_distance(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;
CREATE FUNCTION l1_distance(halfembedding, halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT halfembedding_distance_support;

CREATE OPERATOR <-> (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = l1_distance, COMMUTATOR = '<+>');

-- Elementwise arithmetic and concatenation.
CREATE FUNCTION halfembedding_add(halfembedding, halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_sub(halfembedding, halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_mul(halfembedding, halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_concat(halfembedding, halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = halfembedding_add, COMMUTATOR = +);
CREATE OPERATOR - (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = halfembedding_sub);
CREATE OPERATOR * (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = halfembedding_mul, COMMUTATOR = *);
CREATE OPERATOR || (LEFTARG = halfembedding, RIGHTARG = halfembedding, FUNCTION = halfembedding_concat);

-- Btree ordering, so DISTINCT, GROUP BY, ORDER BY and UNIQUE work.
CREATE FUNCTION halfembedding_lt(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_le(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_eq(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_ne(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_ge(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_gt(halfembedding, halfembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_halfembedding_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_cmp(halfembedding, halfembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_halfembedding_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_eq,
    COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_ne,
    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = halfembedding, RIGHTARG = halfembedding, PROCEDURE = halfembedding_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS halfembedding_ops DEFAULT FOR TYPE halfembedding USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 halfembedding_cmp(halfembedding, halfembedding);

-- Utilities.
CREATE FUNCTION dims(halfembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_halfembedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION norm(halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_norm(halfembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_halfembedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- NORMALIZE is an SQL keyword (normalize(text) is rewritten to pg_catalog's),
-- so the function is l2_normalize, as in pgvector; "normalize" also exists
-- for schema-qualified calls.
CREATE FUNCTION l2_normalize(halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION "normalize"(halfembedding) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION subvector(halfembedding, integer, integer) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION binary_quantize(halfembedding) RETURNS bit
    AS 'MODULE_PATHNAME', 'ember_halfembedding_binary_quantize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION halfembedding_to_real_array(halfembedding) RETURNS real[]
    AS 'MODULE_PATHNAME', 'ember_halfembedding_to_real_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (halfembedding AS real[]) WITH FUNCTION halfembedding_to_real_array(halfembedding) AS IMPLICIT;
