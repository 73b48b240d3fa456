-- Version 9: the offset of each account's last wrong TOTP code (SPEC §10 "Clock drift"): the
-- steps from the server's clock at which the code matched, and which failed check in a row it
-- was, so that two consecutive wrong codes of the same offset can be told apart from guesses.
CREATE TABLE code_drift (
	user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	steps   INTEGER NOT NULL,
	failure INTEGER NOT NULL
) STRICT;
