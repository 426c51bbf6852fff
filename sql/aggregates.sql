-- avg and sum over the dense types. State: float8[] {count, sums...};
-- parallel-safe with a combine function.

CREATE FUNCTION embedding_accum(double precision[], embedding) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'ember_embedding_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_accum(double precision[], halfembedding) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'ember_halfembedding_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_combine(double precision[], double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'ember_dense_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_avg(double precision[]) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding_sum(double precision[]) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embedding_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_avg(double precision[]) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding_sum(double precision[]) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE avg(embedding) (SFUNC = embedding_accum, STYPE = double precision[],
    FINALFUNC = embedding_avg, COMBINEFUNC = embedding_combine, INITCOND = '{0}', PARALLEL = SAFE);
CREATE AGGREGATE sum(embedding) (SFUNC = embedding_accum, STYPE = double precision[],
    FINALFUNC = embedding_sum, COMBINEFUNC = embedding_combine, INITCOND = '{0}', PARALLEL = SAFE);
CREATE AGGREGATE avg(halfembedding) (SFUNC = halfembedding_accum, STYPE = double precision[],
    FINALFUNC = halfembedding_avg, COMBINEFUNC = embedding_combine, INITCOND = '{0}', PARALLEL = SAFE);
CREATE AGGREGATE sum(halfembedding) (SFUNC = halfembedding_accum, STYPE = double precision[],
    FINALFUNC = halfembedding_sum, COMBINEFUNC = embedding_combine, INITCOND = '{0}', PARALLEL = SAFE);
