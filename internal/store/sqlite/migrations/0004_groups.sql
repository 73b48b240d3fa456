-- Version 4: accounts belong to groups (SPEC §8). The names are a list in one column of the
-- account's row (a JSON array, sorted and each once; '' for none), so that an account's groups
-- are read and written with its other fields, under the same row lock.
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '';
