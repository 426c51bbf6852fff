-- sparseembedding: sparse float4 vector, text '{1:0.5,7:1.25}/30522' (1-based indices,
-- ascending, no duplicates; zeros are not stored), typmod sparseembedding(n) = dimensions.
-- The I/O, layout and operator symbols follow pgvector so clients keep working.

CREATE TYPE sparseembedding;

CREATE FUNCTION sparseembedding_in(cstring, oid, integer) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_out(sparseembedding) RETURNS cstring
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_recv(internal, oid, integer) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_send(sparseembedding) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE external: index and float data compress poorly.
CREATE TYPE sparseembedding (
    INPUT = sparseembedding_in, OUTPUT = sparseembedding_out, TYPMOD_IN = sparseembedding_typmod_in,
    RECEIVE = sparseembedding_recv, SEND = sparseembedding_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = external
);

-- Enforces sparseembedding(n) on assignment and explicit casts.
CREATE FUNCTION sparseembedding(sparseembedding, integer, boolean) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (sparseembedding AS sparseembedding) WITH FUNCTION sparseembedding(sparseembedding, integer, boolean) AS IMPLICIT;

-- Distances, by name and as operators.
CREATE FUNCTION l2_distance(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_squared_distance(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION inner_product(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION negative_inner_product(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cosine_distance(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l1_distance(sparseembedding, sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, FUNCTION = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, FUNCTION = negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, FUNCTION = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, FUNCTION = l1_distance, COMMUTATOR = '<+>');

-- Btree ordering, so DISTINCT, GROUP BY, ORDER BY and UNIQUE work.
CREATE FUNCTION sparseembedding_lt(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_le(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_eq(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_ne(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_ge(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_gt(sparseembedding, sparseembedding) RETURNS bool
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding_cmp(sparseembedding, sparseembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_eq,
    COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR <> (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_ne,
    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR >= (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = sparseembedding, RIGHTARG = sparseembedding, PROCEDURE = sparseembedding_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS sparseembedding_ops DEFAULT FOR TYPE sparseembedding USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 sparseembedding_cmp(sparseembedding, sparseembedding);

-- Utilities.
CREATE FUNCTION dims(sparseembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION norm(sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION l2_norm(sparseembedding) RETURNS float8
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- NORMALIZE is an SQL keyword (normalize(text) is rewritten to pg_catalog's),
-- so the function is l2_normalize, as in pgvector; "normalize" also exists
-- for schema-qualified calls.
CREATE FUNCTION l2_normalize(sparseembedding) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION "normalize"(sparseembedding) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION nnz(sparseembedding) RETURNS integer
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_nnz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
