-- ember demo: dense, half and sparse embeddings in ordinary tables.
\pset footer off
\set QUIET on
SET client_min_messages = warning;
DROP TABLE IF EXISTS items;
DROP EXTENSION IF EXISTS ember CASCADE;
CREATE EXTENSION ember;
\set QUIET off

CREATE TABLE items (
    id       bigint PRIMARY KEY,
    name     text,
    dense    embedding(3),
    half     halfembedding(3),
    sparse   sparseembedding(8)
);
INSERT INTO items VALUES
    (1, 'apple',  '[1,0.2,0]',   '[1,0.2,0]',   '{1:1,2:0.2}/8'),
    (2, 'banana', '[0.9,0.4,0]', '[0.9,0.4,0]', '{1:0.9,2:0.4,5:0.1}/8'),
    (3, 'carrot', '[0,1,0.3]',   '[0,1,0.3]',   '{2:1,3:0.3}/8'),
    (4, 'donut',  '[0,0.1,1]',   '[0,0.1,1]',   '{3:1,8:2}/8'),
    (5, 'eggs',   '[0.2,0,0.9]', '[0.2,0,0.9]', '{1:0.2,3:0.9}/8');

\echo 'Nearest to [1,0.3,0] by L2 (<->):'
SELECT name, dense <-> '[1,0.3,0]' AS l2 FROM items ORDER BY dense <-> '[1,0.3,0]' LIMIT 3;

\echo 'Nearest by cosine distance (<=>), half precision:'
SELECT name, round((half <=> '[1,0.3,0]')::numeric, 4) AS cosine FROM items ORDER BY half <=> '[1,0.3,0]' LIMIT 3;

\echo 'Best by inner product (<#> is the negative inner product), sparse:'
SELECT name, sparse <#> '{1:1,3:1}/8' AS neg_ip FROM items ORDER BY sparse <#> '{1:1,3:1}/8' LIMIT 3;

\echo 'Aggregates, arithmetic and utilities:'
SELECT avg(dense) AS avg, sum(half) AS sum FROM items;
SELECT '[1,2,3]'::embedding + '[4,5,6]' AS add, l2_normalize('[3,4]'::embedding) AS unit,
       subvector('[1,2,3,4,5]'::embedding, 2, 3) AS sub, binary_quantize('[1,-1,2]'::embedding) AS bits;

\echo 'Late interaction: rank bags of token vectors by MaxSim (@# is its negation):'
CREATE TEMP TABLE passages (id int, toks multiembedding(2));
INSERT INTO passages VALUES (1, '[[1,0],[0,1]]'), (2, '[[0.9,0.1]]'), (3, '[[-1,0],[0.2,0.8]]');
SELECT id, maxsim(toks, '[[1,0],[0,1]]') AS maxsim FROM passages ORDER BY toks @# '[[1,0],[0,1]]' LIMIT 3;
