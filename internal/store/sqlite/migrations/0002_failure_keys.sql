-- Version 2: submitted usernames are kept only as keyed hashes, and failures stop counting.
--
-- The password failure rows were keyed by the username as typed (sometimes a password typed
-- into the username box) and never went away. They are short-lived counters, so they are
-- dropped rather than converted: the worst an upgrade does is forget up to nine failures or a
-- lock of at most 15 minutes.

-- secure_delete zeroes the pages the old rows free, so that no typed name stays in the file
-- (the setting is the connection's: it is turned off again at the end).
PRAGMA secure_delete = ON;
DROP TABLE password_failures;

-- Password failures per submitted username, whether or not the account exists, under
-- HMAC-SHA256 of the normalised username with a subkey of the server key. counts_until is
-- when the row stops counting (15 minutes after the last failure, when any lock has ended
-- too); rows past it are removed by later writes.
CREATE TABLE password_failures (
	name_mac     BLOB    PRIMARY KEY,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	counts_until INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX password_failures_counts_until ON password_failures (counts_until);

PRAGMA secure_delete = OFF;
