-- Version 4: accounts belong to groups (SPEC §8), as in SQLite's 0004_groups.sql: a list in
-- one column of the account's row (a JSON array, sorted and each once; '' for none).
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '';
