-- Version 2: submitted usernames are kept only as keyed hashes, failures stop counting, and
-- address attempts have an id (an attempt is counted before its password is checked and
-- removed again when the password was right).
--
-- The password failure rows were keyed by the username as typed (sometimes a password typed
-- into the username box) and never went away. They are short-lived counters, so they are
-- dropped rather than converted: the worst an upgrade does is forget up to nine failures or a
-- lock of at most 15 minutes.

-- secure_delete zeroes the space the old rows free, so that no typed name stays in the file
-- (the setting is the connection's: it is turned off again at the end, after the audit log is
-- scrubbed below).
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

-- A password lock on a name without an account was audited under the name as typed. Those
-- events are kept as the audit of a lock is now: without the name. The table is rebuilt rather
-- than updated in place: its pages may hold old copies of the names in space no row uses (left
-- there when a page was split), which secure_delete zeroes only when the pages are freed, as
-- DROP TABLE frees them. The sequence of ids carries over, so that no id is handed out twice.
CREATE TABLE events_new (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL DEFAULT '',
	account TEXT    NOT NULL DEFAULT '',
	action  TEXT    NOT NULL DEFAULT '',
	detail  TEXT    NOT NULL DEFAULT ''
) STRICT;
INSERT INTO events_new (id, at, actor, account, action, detail)
SELECT id, at, actor,
	CASE WHEN typed THEN '' ELSE account END,
	action,
	CASE WHEN typed THEN 'a username with no account ' || detail ELSE detail END
FROM (SELECT *, action = 'password.locked' AND account <> ''
		AND account NOT IN (SELECT username FROM users) AS typed
	FROM events)
ORDER BY id;
DELETE FROM sqlite_sequence WHERE name = 'events_new';
UPDATE sqlite_sequence SET name = 'events_new' WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_account ON events (account, id);
CREATE INDEX events_action ON events (action, id);

-- The id of an attempt is a column of its own: an implicit rowid may be renumbered by VACUUM,
-- and a release would then remove another attempt. AUTOINCREMENT never hands an id out twice,
-- like PostgreSQL's identity column.
CREATE TABLE address_failures_new (
	id   INTEGER PRIMARY KEY AUTOINCREMENT,
	addr TEXT    NOT NULL,
	at   INTEGER NOT NULL
) STRICT;
INSERT INTO address_failures_new (addr, at) SELECT addr, at FROM address_failures ORDER BY at;
DROP TABLE address_failures;
ALTER TABLE address_failures_new RENAME TO address_failures;
CREATE INDEX address_failures_addr_at ON address_failures (addr, at);
CREATE INDEX address_failures_at ON address_failures (at);

PRAGMA secure_delete = OFF;
