-- Shared by the other tests: create ember and a helper that reports the
-- SQLSTATE and message of a statement's error (or 'ok').
CREATE EXTENSION ember;
CREATE FUNCTION sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT extname, extversion FROM pg_extension WHERE extname = 'ember';
