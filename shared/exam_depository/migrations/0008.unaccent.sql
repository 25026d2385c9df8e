-- depends: 0007.extension-removed-at
-- The roster's search compares names and emails without their accents ("Müller" is found by
-- "muller"): PostgreSQL's unaccent extension (contrib; Aurora PostgreSQL and RDS allow it, and it
-- is trusted: a user who may create objects in the database may create it). A database that has it
-- already keeps it.
CREATE EXTENSION IF NOT EXISTS unaccent;
