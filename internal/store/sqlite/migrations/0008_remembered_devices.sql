-- Version 8: remembered devices (SPEC §10). A browser whose second factor was proved with
-- "Remember this device" ticked; token_hash is the hash of its twofold_device cookie (the
-- cookie itself is never stored), label names the browser from its user agent.
CREATE TABLE remembered_devices (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash   BLOB    NOT NULL UNIQUE,
	label        TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX remembered_devices_user ON remembered_devices (user_id);
CREATE INDEX remembered_devices_expires ON remembered_devices (expires_at);

-- sessions.device_remembered: the password step came from a remembered device of the account,
-- so the sign-in skips the second factor its policy asks for (never enrolment, never an
-- application's demand for one).
ALTER TABLE sessions ADD COLUMN device_remembered INTEGER NOT NULL DEFAULT 0;
