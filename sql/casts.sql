-- Casts from arrays to the dense types (assignment, as pgvector), and
-- between embedding, halfembedding and sparseembedding. Each cast function
-- takes the target typmod, so embedding(3) etc. are enforced.

CREATE FUNCTION array_to_embedding(double precision[], integer, boolean) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_float8_array_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(real[], integer, boolean) RETURNS embedding
    AS $$ SELECT array_to_embedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(integer[], integer, boolean) RETURNS embedding
    AS $$ SELECT array_to_embedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_embedding(numeric[], integer, boolean) RETURNS embedding
    AS $$ SELECT array_to_embedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (double precision[] AS embedding) WITH FUNCTION array_to_embedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS embedding) WITH FUNCTION array_to_embedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS embedding) WITH FUNCTION array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS embedding) WITH FUNCTION array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;

CREATE FUNCTION array_to_halfembedding(double precision[], integer, boolean) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_float8_array_to_halfembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfembedding(real[], integer, boolean) RETURNS halfembedding
    AS $$ SELECT array_to_halfembedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfembedding(integer[], integer, boolean) RETURNS halfembedding
    AS $$ SELECT array_to_halfembedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfembedding(numeric[], integer, boolean) RETURNS halfembedding
    AS $$ SELECT array_to_halfembedding($1::double precision[], $2, $3) $$ LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (double precision[] AS halfembedding) WITH FUNCTION array_to_halfembedding(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS halfembedding) WITH FUNCTION array_to_halfembedding(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS halfembedding) WITH FUNCTION array_to_halfembedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS halfembedding) WITH FUNCTION array_to_halfembedding(numeric[], integer, boolean) AS ASSIGNMENT;

-- Between the types. Assignment (not implicit) so mixed-type operators stay
-- unambiguous; write an explicit cast to compare across types.
CREATE FUNCTION halfembedding(embedding, integer, boolean) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_embedding_to_halfembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding(halfembedding, integer, boolean) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding(embedding, integer, boolean) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_embedding_to_sparseembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sparseembedding(halfembedding, integer, boolean) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_halfembedding_to_sparseembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION embedding(sparseembedding, integer, boolean) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_to_embedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION halfembedding(sparseembedding, integer, boolean) RETURNS halfembedding
    AS 'MODULE_PATHNAME', 'ember_sparseembedding_to_halfembedding' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (embedding AS halfembedding) WITH FUNCTION halfembedding(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (halfembedding AS embedding) WITH FUNCTION embedding(halfembedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (embedding AS sparseembedding) WITH FUNCTION sparseembedding(embedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (halfembedding AS sparseembedding) WITH FUNCTION sparseembedding(halfembedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (sparseembedding AS embedding) WITH FUNCTION embedding(sparseembedding, integer, boolean) AS ASSIGNMENT;
CREATE CAST (sparseembedding AS halfembedding) WITH FUNCTION halfembedding(sparseembedding, integer, boolean) AS ASSIGNMENT;
