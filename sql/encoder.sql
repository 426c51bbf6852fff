-- The in-database text encoder. STABLE, not IMMUTABLE: a model directory
-- can change, so never use these in an index expression or a generated
-- column; store their results in ordinary columns (see the README).

CREATE FUNCTION embed(text) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embed' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed(text, model text) RETURNS embedding
    AS 'MODULE_PATHNAME', 'ember_embed' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed(text[]) RETURNS embedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed(text[], model text) RETURNS embedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;

CREATE FUNCTION embed_tokens(text) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_embed_tokens' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_tokens(text, model text) RETURNS multiembedding
    AS 'MODULE_PATHNAME', 'ember_embed_tokens' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_tokens(text[]) RETURNS multiembedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_tokens_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_tokens(text[], model text) RETURNS multiembedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_tokens_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;

CREATE FUNCTION embed_sparse(text) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_embed_sparse' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_sparse(text, model text) RETURNS sparseembedding
    AS 'MODULE_PATHNAME', 'ember_embed_sparse' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_sparse(text[]) RETURNS sparseembedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_sparse_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION embed_sparse(text[], model text) RETURNS sparseembedding[]
    AS 'MODULE_PATHNAME', 'ember_embed_sparse_batch' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;

CREATE FUNCTION ember_models_json() RETURNS text
    AS 'MODULE_PATHNAME', 'ember_models_json' LANGUAGE C STABLE PARALLEL SAFE;

-- The installed models, their dimensions and what each can do.
CREATE FUNCTION ember_models(
    OUT name text, OUT dim integer, OUT token_dim integer, OUT max_tokens integer,
    OUT vocab_size integer, OUT layers integer, OUT pooling text, OUT sparse boolean,
    OUT colbert_projection boolean, OUT path text)
RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT * FROM json_to_recordset(ember_models_json()::json) AS m(
        name text, dim integer, token_dim integer, max_tokens integer, vocab_size integer,
        layers integer, pooling text, sparse boolean, colbert_projection boolean, path text)
$$;

-- Reciprocal rank fusion: 1 / (k + rank). Sum it over the rankings of one
-- row (dense, sparse, full text ...) to fuse them.
CREATE FUNCTION ember_rrf(rank bigint, k integer DEFAULT 60) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 1.0 / ($2 + $1) $$;
