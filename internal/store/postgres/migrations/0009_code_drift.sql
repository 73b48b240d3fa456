-- Version 9: the offset of each account's last wrong TOTP code (SPEC §10 "Clock drift"), with
-- the same table and columns as SQLite's 0009_code_drift.sql.
CREATE TABLE code_drift (
	user_id BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	steps   BIGINT  NOT NULL,
	failure INTEGER NOT NULL
);
