-- Version 5: back-channel logout notices (SPEC §7 "Logout"), a durable queue as mail is: one
-- row for each application to tell that a session it received tokens in has ended, kept until
-- the application took it or delivery gave up.
--
-- subject is the account's application subject, what the logout token says; user_id names
-- the account for the audit trail (no reference: the notice needs nothing else of it).
-- next_at is when the notice is due: a deliverer claims it by moving next_at on with a
-- conditional write, so that of several instances one alone sends it. AUTOINCREMENT never
-- hands an id out twice, so a claim never meets another notice under the same id.
CREATE TABLE logout_notices (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	user_id    INTEGER NOT NULL DEFAULT 0,
	subject    TEXT    NOT NULL,
	sid        TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER NOT NULL,
	last_error TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX logout_notices_next_at ON logout_notices (next_at);
CREATE INDEX logout_notices_client_id ON logout_notices (client_id);
