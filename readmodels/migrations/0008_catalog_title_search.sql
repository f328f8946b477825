-- ListCourses' title_contains is a substring match (ILIKE '%…%'): a trigram
-- index serves it instead of a scan of every course. pg_trgm ships with
-- PostgreSQL (contrib) and is a trusted extension: the database owner may
-- create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX courses_title_trgm ON catalog.courses USING gin (title gin_trgm_ops);
