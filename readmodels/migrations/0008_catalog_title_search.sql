-- ListCourses' title_contains is a substring match (ILIKE '%…%'): a trigram
-- index serves it instead of a scan of every course. pg_trgm ships with
-- PostgreSQL (contrib) and is a trusted extension: the database owner may
-- create it. Named with its schema: the migrator runs with its own
-- search_path, and rebuild shadows replay this DDL in other sessions.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX courses_title_trgm ON catalog.courses USING gin (title public.gin_trgm_ops);
