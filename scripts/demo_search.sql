-- ember demo, part 2: in-database encoding of a real corpus (WordNet noun
-- glosses) and semantic, lexical, SPLADE and late-interaction search fused
-- in single SQL statements.
\pset footer off
\set QUIET on
SET client_min_messages = warning;
DROP TABLE IF EXISTS glosses;
CREATE TABLE glosses (
    id     int PRIMARY KEY,
    lemma  text NOT NULL,
    gloss  text NOT NULL,
    tsv    tsvector GENERATED ALWAYS AS (to_tsvector('english', gloss)) STORED,
    emb    embedding(384),       -- all-MiniLM-L6-v2, filled below by UPDATE (so pg_dump keeps it)
    splade sparseembedding       -- splade-tiny
);
\copy glosses (id, lemma, gloss) FROM 'corpus.tsv'
\set QUIET off
SELECT count(*) AS glosses_loaded FROM glosses;
SELECT name, dim, token_dim, max_tokens, pooling, sparse FROM ember_models();

-- Encode in batches of 256 (the batch form of embed() sorts by length and
-- pads per batch), printing progress.
SET client_min_messages = notice;
DO $$
DECLARE
    total int := (SELECT count(*) FROM glosses);
    done int := 0;
    t0 timestamptz := clock_timestamp();
BEGIN
    WHILE done < total LOOP
        WITH batch AS (
            SELECT array_agg(id ORDER BY id) AS ids, array_agg(gloss ORDER BY id) AS texts
            FROM (SELECT id, gloss FROM glosses ORDER BY id OFFSET done LIMIT 256) b)
        UPDATE glosses g SET emb = x.emb, splade = x.splade
        FROM batch, unnest(batch.ids, embed(batch.texts), embed_sparse(batch.texts, 'splade-tiny')) AS x(id, emb, splade)
        WHERE g.id = x.id;
        done := least(done + 256, total);
        RAISE NOTICE 'encoded % of % glosses (%/s)', done, total,
            round(done / greatest(extract(epoch FROM clock_timestamp() - t0), 0.001));
    END LOOP;
END $$;
SET client_min_messages = warning;

\echo 'Semantic search: "a large body of salt water"'
SELECT lemma, left(gloss, 70) AS gloss, round((emb <=> embed('a large body of salt water'))::numeric, 3) AS cos_dist
FROM glosses ORDER BY emb <=> embed('a large body of salt water') LIMIT 5;

\echo 'Hybrid: dense + SPLADE + full text, fused by reciprocal rank fusion, in one statement: "musical instrument with strings"'
WITH q AS (
    SELECT embed('musical instrument with strings') AS e,
           embed_sparse('musical instrument with strings', 'splade-tiny') AS s,
           replace(plainto_tsquery('english', 'musical instrument with strings')::text, '&', '|')::tsquery AS t),
dense AS (
    SELECT id, row_number() OVER (ORDER BY emb <=> q.e) AS r FROM glosses, q ORDER BY emb <=> q.e LIMIT 50),
sparse AS (
    SELECT id, row_number() OVER (ORDER BY splade <#> q.s) AS r FROM glosses, q ORDER BY splade <#> q.s LIMIT 50),
lexical AS (
    SELECT id, row_number() OVER (ORDER BY ts_rank_cd(tsv, q.t) DESC) AS r
    FROM glosses, q WHERE tsv @@ q.t ORDER BY ts_rank_cd(tsv, q.t) DESC LIMIT 50)
SELECT g.lemma, left(g.gloss, 60) AS gloss,
       round((coalesce(ember_rrf(d.r), 0) + coalesce(ember_rrf(s.r), 0) + coalesce(ember_rrf(l.r), 0))::numeric, 4) AS rrf,
       d.r AS dense_rank, s.r AS splade_rank, l.r AS text_rank
FROM dense d FULL JOIN sparse s USING (id) FULL JOIN lexical l USING (id) JOIN glosses g USING (id)
ORDER BY rrf DESC, g.id LIMIT 5;

\echo 'First-stage dense retrieval reranked by late interaction (MaxSim over token vectors): "someone who repairs pipes"'
WITH q AS (SELECT embed('someone who repairs pipes') AS e, embed_tokens('someone who repairs pipes') AS toks),
first_stage AS (SELECT id, gloss, emb <=> q.e AS d FROM glosses, q ORDER BY emb <=> q.e LIMIT 30)
SELECT g.lemma, left(f.gloss, 60) AS gloss, round(maxsim(embed_tokens(f.gloss), q.toks)::numeric, 3) AS maxsim
FROM first_stage f JOIN glosses g USING (id), q
ORDER BY embed_tokens(f.gloss) @# q.toks LIMIT 5;
