-- ember_hnsw: the HNSW index access method and its operator classes.
-- The opclass is recognised by its support function 1 (the distance function
-- of its ORDER BY operator) and its input type; see src/am/opclass.rs.

CREATE FUNCTION ember_hnsw_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ember_hnsw_handler' LANGUAGE C;
CREATE ACCESS METHOD ember_hnsw TYPE INDEX HANDLER ember_hnsw_handler;
COMMENT ON ACCESS METHOD ember_hnsw IS 'ember HNSW graph index for nearest-neighbour ORDER BY';

CREATE OPERATOR CLASS embedding_l2_ops DEFAULT FOR TYPE embedding USING ember_hnsw AS
    OPERATOR 1 <-> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_ip_ops FOR TYPE embedding USING ember_hnsw AS
    OPERATOR 1 <#> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_inner_product(embedding, embedding);
CREATE OPERATOR CLASS embedding_cosine_ops FOR TYPE embedding USING ember_hnsw AS
    OPERATOR 1 <=> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_l1_ops FOR TYPE embedding USING ember_hnsw AS
    OPERATOR 1 <+> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(embedding, embedding);
CREATE OPERATOR CLASS halfembedding_l2_ops DEFAULT FOR TYPE halfembedding USING ember_hnsw AS
    OPERATOR 1 <-> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_ip_ops FOR TYPE halfembedding USING ember_hnsw AS
    OPERATOR 1 <#> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_inner_product(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_cosine_ops FOR TYPE halfembedding USING ember_hnsw AS
    OPERATOR 1 <=> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_l1_ops FOR TYPE halfembedding USING ember_hnsw AS
    OPERATOR 1 <+> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(halfembedding, halfembedding);
CREATE OPERATOR CLASS sparseembedding_l2_ops DEFAULT FOR TYPE sparseembedding USING ember_hnsw AS
    OPERATOR 1 <-> (sparseembedding, sparseembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(sparseembedding, sparseembedding);
CREATE OPERATOR CLASS sparseembedding_ip_ops FOR TYPE sparseembedding USING ember_hnsw AS
    OPERATOR 1 <#> (sparseembedding, sparseembedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_inner_product(sparseembedding, sparseembedding);
CREATE OPERATOR CLASS sparseembedding_cosine_ops FOR TYPE sparseembedding USING ember_hnsw AS
    OPERATOR 1 <=> (sparseembedding, sparseembedding) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(sparseembedding, sparseembedding);
CREATE OPERATOR CLASS sparseembedding_l1_ops FOR TYPE sparseembedding USING ember_hnsw AS
    OPERATOR 1 <+> (sparseembedding, sparseembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(sparseembedding, sparseembedding);

CREATE FUNCTION ember_hnsw_verify(index regclass) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ember_hnsw_verify' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION ember_hnsw_info(index regclass, OUT dimensions int, OUT m int, OUT ef_construction int,
                                OUT elements bigint, OUT entry_level int, OUT pages bigint,
                                OUT stored text, OUT neighbour_codes text)
    AS 'MODULE_PATHNAME', 'ember_hnsw_info' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ember_hnsw_info(regclass) IS
    'What an ember_hnsw index''s metapage records: dimensions, m, ef_construction, elements (as of the build or last VACUUM), the entry point''s level, pages, what the elements store (values or sq8 codes) and what the neighbour codes are relative to (none, centroid or owner)';
COMMENT ON FUNCTION ember_hnsw_verify(regclass) IS
    'Checks an ember_hnsw index (pages, links, reachability of every table row); returns its live element count or raises XX002';
