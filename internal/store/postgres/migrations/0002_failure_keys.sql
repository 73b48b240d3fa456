-- Version 2: submitted usernames are kept only as keyed hashes, failures stop counting, and
-- address attempts have an id (an attempt is counted before its password is checked and
-- removed again when the password was right).
--
-- The password failure rows were keyed by the username as typed (sometimes a password typed
-- into the username box) and never went away. They are short-lived counters, so they are
-- dropped rather than converted: the worst an upgrade does is forget up to nine failures or a
-- lock of at most 15 minutes.

DROP TABLE password_failures;

-- Password failures per submitted username, whether or not the account exists, under
-- HMAC-SHA256 of the normalised username with a subkey of the server key. counts_until is
-- when the row stops counting (15 minutes after the last failure, when any lock has ended
-- too); rows past it are removed by later writes.
CREATE TABLE password_failures (
	name_mac     BYTEA   PRIMARY KEY,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until BIGINT  NOT NULL DEFAULT 0,
	counts_until BIGINT  NOT NULL
);

CREATE INDEX password_failures_counts_until ON password_failures (counts_until);

-- A password lock on a name without an account was audited under the name as typed (sometimes
-- a password typed into the username box). Those events are kept as the audit of a lock is
-- now: without the name.
UPDATE events SET account = '', detail = 'a username with no account ' || detail
WHERE action = 'password.locked' AND account <> ''
	AND account NOT IN (SELECT username FROM users);

ALTER TABLE address_failures ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
