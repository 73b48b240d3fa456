-- Version 10: sessions become a table with a rowid, found by id_hash through a unique index.
--
-- Every step of a sign-in gives its session a new id (the hash of a new cookie). In a table
-- keyed by id_hash (WITHOUT ROWID) a new key moves the row to another page and rewrites its
-- entry in every index, since each index entry holds the key: about 5.4 pages written per
-- replacement. With a rowid the row stays where it is, and only the id_hash index changes
-- (ReplaceSession leaves user_id and sid alone, so their indexes are not touched): about 3.4
-- pages. The sessions and the columns are the same; only where the rows live changes.
CREATE TABLE sessions_new (
	id_hash           BLOB    NOT NULL,
	user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	done              INTEGER NOT NULL DEFAULT 0,
	mfa_passed        INTEGER NOT NULL DEFAULT 0,
	mfa_skipped       INTEGER NOT NULL DEFAULT 0,
	pending_key       BLOB,
	reauthenticated   INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL,
	last_seen_at      INTEGER NOT NULL DEFAULT 0,
	sid               TEXT    NOT NULL DEFAULT '',
	amr               TEXT    NOT NULL DEFAULT '',
	mfa_required      INTEGER NOT NULL DEFAULT 0,
	return_to         TEXT    NOT NULL DEFAULT '',
	device_remembered INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO sessions_new (id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
	reauthenticated, created_at, last_seen_at, sid, amr, mfa_required, return_to, device_remembered)
SELECT id_hash, user_id, done, mfa_passed, mfa_skipped, pending_key,
	reauthenticated, created_at, last_seen_at, sid, amr, mfa_required, return_to, device_remembered
FROM sessions;

DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE UNIQUE INDEX sessions_id_hash ON sessions (id_hash);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_sid ON sessions (sid);
