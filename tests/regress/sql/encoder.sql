-- The in-database encoder on the models the set-up installs:
-- all-MiniLM-L6-v2 (dense, tokens) and splade-tiny (SPLADE sparse).
SELECT name, dim, token_dim, max_tokens, vocab_size, layers, pooling, sparse FROM ember_models() ORDER BY name;
SHOW ember.default_model;

-- dense: 384 dimensions, unit norm, meaning-aware
SELECT dims(embed('hello world')), round(norm(embed('hello world'))::numeric, 4) AS norm;
SELECT embed('hello world') = embed('hello world', 'all-MiniLM-L6-v2') AS default_model_used;
SELECT round((embed('A man is eating food.') <=> embed('A man is eating a piece of bread.'))::numeric, 2) <
       round((embed('A man is eating food.') <=> embed('The girl is carrying a baby.'))::numeric, 2) AS closer_meaning_is_closer;
SELECT embed('') IS NOT NULL AS empty_text_has_an_embedding;
-- inputs beyond 256 tokens are truncated to the model's maximum, as the reference does
SELECT embed(repeat('word ', 300)) = embed(repeat('word ', 400)) AS truncated;

-- batch form: same vectors as one at a time; NULL elements stay NULL
SELECT (embed(ARRAY['first text', NULL, 'second text']))[1] = embed('first text') AS same_as_single,
       (embed(ARRAY['first text', NULL, 'second text']))[2] IS NULL AS null_stays_null,
       array_length(embed(ARRAY['a', 'b', 'c']), 1) AS n;

-- late interaction: one normalised vector per real token ([CLS]/[SEP] dropped)
SELECT dims(embed_tokens('hello world')), token_count(embed_tokens('hello world')),
       token_count(embed_tokens('The quick brown fox jumps over the lazy dog'));
SELECT round(maxsim(embed_tokens('hello world'), embed_tokens('hello world'))::numeric, 3) AS self_maxsim;
SELECT embed_tokens('') IS NULL AS no_tokens_is_null;
SELECT array_length(embed_tokens(ARRAY['one two', 'three']), 1) AS n;

-- SPLADE on splade-tiny: the vocabulary-sized sparse vector expands the text
SELECT dims(embed_sparse('the cat sat on the mat', 'splade-tiny')), nnz(embed_sparse('the cat sat on the mat', 'splade-tiny')) > 5 AS expands;
SELECT (embed_sparse('the cat sat on the mat', 'splade-tiny') <#> embed_sparse('a cat on a mat', 'splade-tiny')) <
       (embed_sparse('the cat sat on the mat', 'splade-tiny') <#> embed_sparse('stock market prices fell', 'splade-tiny')) AS related_scores_higher;

-- storing embeddings in ordinary columns (so pg_dump restores them as data)
CREATE TABLE notes (id int PRIMARY KEY, body text, emb embedding(384));
INSERT INTO notes VALUES (1, 'the weather is sunny today', NULL), (2, 'stock prices rose sharply', NULL);
UPDATE notes SET emb = embed(body);
SELECT id FROM notes ORDER BY emb <=> embed('it is a bright warm day') LIMIT 1;
CREATE TABLE wrong_dims (emb embedding(768));
SELECT sqlstate_of($$INSERT INTO wrong_dims VALUES (embed('text'))$$);

-- errors
SELECT embed(NULL) IS NULL AS null_in_null_out, embed('x', NULL) IS NULL AS null_model;
SELECT regexp_replace(sqlstate_of($$SELECT embed('x', 'no-such-model')$$), ' \(ember.model_path.*', '') AS unknown_model;
SELECT sqlstate_of($$SELECT embed('x', '../etc')$$);
SELECT sqlstate_of($$SELECT embed('x', '')$$);
SELECT sqlstate_of($$SELECT embed_sparse('x')$$);
-- ember.model_path decides which files the server reads: superusers only
CREATE ROLE ember_regress_user;
SET ROLE ember_regress_user;
SELECT sqlstate_of($$SET ember.model_path = '/tmp'$$);
SELECT dims(embed('ordinary users can embed'));
RESET ROLE;
DROP ROLE ember_regress_user;
-- a long batch can be cancelled
SET statement_timeout = '200ms';
SELECT count(*) FROM unnest(embed(ARRAY(SELECT repeat('many words here ', 80) || i FROM generate_series(1, 3000) i)));
RESET statement_timeout;
SELECT dims(embed('still works after a cancel'));
DROP TABLE notes, wrong_dims;
