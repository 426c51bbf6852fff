-- ember_ivf: the IVF index access method and its operator classes.
-- The opclass is recognised by its support function 1 (the distance function
-- of its ORDER BY operator) and its input type; see src/am/opclass.rs.

CREATE FUNCTION ember_ivf_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ember_ivf_handler' LANGUAGE C;
CREATE ACCESS METHOD ember_ivf TYPE INDEX HANDLER ember_ivf_handler;
COMMENT ON ACCESS METHOD ember_ivf IS 'ember IVF index (k-means lists of 8-bit codes or full values) for nearest-neighbour ORDER BY';

CREATE OPERATOR CLASS embedding_l2_ops DEFAULT FOR TYPE embedding USING ember_ivf AS
    OPERATOR 1 <-> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_ip_ops FOR TYPE embedding USING ember_ivf AS
    OPERATOR 1 <#> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_inner_product(embedding, embedding);
CREATE OPERATOR CLASS embedding_cosine_ops FOR TYPE embedding USING ember_ivf AS
    OPERATOR 1 <=> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(embedding, embedding);
CREATE OPERATOR CLASS embedding_l1_ops FOR TYPE embedding USING ember_ivf AS
    OPERATOR 1 <+> (embedding, embedding) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(embedding, embedding);
CREATE OPERATOR CLASS halfembedding_l2_ops DEFAULT FOR TYPE halfembedding USING ember_ivf AS
    OPERATOR 1 <-> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l2_distance(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_ip_ops FOR TYPE halfembedding USING ember_ivf AS
    OPERATOR 1 <#> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_inner_product(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_cosine_ops FOR TYPE halfembedding USING ember_ivf AS
    OPERATOR 1 <=> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(halfembedding, halfembedding);
CREATE OPERATOR CLASS halfembedding_l1_ops FOR TYPE halfembedding USING ember_ivf AS
    OPERATOR 1 <+> (halfembedding, halfembedding) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(halfembedding, halfembedding);

-- Late interaction: every token vector of every document is an entry (token
-- -> row); a query probes the lists of each of its tokens, and the executor
-- re-ranks the best ember.maxsim_candidates rows by exact MaxSim.
CREATE OPERATOR CLASS multiembedding_maxsim_ops DEFAULT FOR TYPE multiembedding USING ember_ivf AS
    OPERATOR 1 @# (multiembedding, multiembedding) FOR ORDER BY float_ops,
    FUNCTION 1 negative_maxsim(multiembedding, multiembedding);

CREATE FUNCTION ember_ivf_verify(index regclass) RETURNS bigint
    AS 'MODULE_PATHNAME', 'ember_ivf_verify' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ember_ivf_verify(regclass) IS
    'Checks an ember_ivf index (pages, lists, an entry for every table row); returns its entry count or raises XX002';
