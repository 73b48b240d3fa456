-- Twofold schema, version 1.
--
-- Times are INTEGER unix nanoseconds (0 for none), booleans INTEGER 0/1, byte strings BLOB.
-- Tables are STRICT so that a value of the wrong type is refused instead of stored.

CREATE TABLE users (
	id                  INTEGER PRIMARY KEY,
	username            TEXT    NOT NULL UNIQUE,
	email               TEXT    NOT NULL DEFAULT '',
	name                TEXT    NOT NULL DEFAULT '',
	kind                TEXT    NOT NULL,
	source              TEXT    NOT NULL,
	role                TEXT    NOT NULL,
	disabled            INTEGER NOT NULL DEFAULT 0,
	password_hash       TEXT    NOT NULL DEFAULT '',
	password_temporary  INTEGER NOT NULL DEFAULT 0,
	password_expires_at INTEGER NOT NULL DEFAULT 0,
	totp_key            BLOB,
	totp_key_version    INTEGER NOT NULL DEFAULT 0,
	totp_last_step      INTEGER NOT NULL DEFAULT 0,
	backup_salt         BLOB,
	mfa_failures        INTEGER NOT NULL DEFAULT 0,
	mfa_locked_until    INTEGER NOT NULL DEFAULT 0,
	mfa_locked_forever  INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX users_role ON users (role);
CREATE INDEX users_created_at ON users (created_at);

-- Only the MAC of a backup code is kept; used_at is 0 while the code is unused.
CREATE TABLE backup_codes (
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	mac     BLOB    NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, mac)
) STRICT, WITHOUT ROWID;

-- Password failures per submitted username, whether or not the account exists.
CREATE TABLE password_failures (
	username     TEXT    PRIMARY KEY,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Password failures per client address, kept for the rate window only.
CREATE TABLE address_failures (
	addr TEXT    NOT NULL,
	at   INTEGER NOT NULL
) STRICT;

CREATE INDEX address_failures_addr_at ON address_failures (addr, at);
CREATE INDEX address_failures_at ON address_failures (at);

-- Sign-ins in progress (done = 0) and sessions (done = 1), by the SHA-256 hash of the cookie.
CREATE TABLE sessions (
	id_hash         BLOB    PRIMARY KEY,
	user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	done            INTEGER NOT NULL DEFAULT 0,
	mfa_passed      INTEGER NOT NULL DEFAULT 0,
	mfa_skipped     INTEGER NOT NULL DEFAULT 0,
	pending_key     BLOB,
	reauthenticated INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE options (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The audit log. AUTOINCREMENT so that an id is never reused, even after the newest rows go.
CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL DEFAULT '',
	account TEXT    NOT NULL DEFAULT '',
	action  TEXT    NOT NULL DEFAULT '',
	detail  TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_account ON events (account, id);
CREATE INDEX events_action ON events (action, id);

-- The store's own metadata (for example a check value of the server key).
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
