-- Version 7: security keys and passkeys (SPEC §9). webauthn_credentials holds each account's
-- registered credentials (the credential id is unique among all accounts; flags are the
-- authenticator data flags the library checks at every use, backup eligible and backup state
-- among them; disabled is set when the signature counter went backwards). webauthn_challenges
-- holds the one ceremony a sign-in or session has begun, under the session's id hash, taken
-- (deleted) by the request that finishes it, so that it works once on every instance.
CREATE TABLE webauthn_credentials (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id    BLOB    NOT NULL UNIQUE,
	public_key       BLOB    NOT NULL,
	sign_count       INTEGER NOT NULL DEFAULT 0,
	transports       TEXT    NOT NULL DEFAULT '',
	flags            INTEGER NOT NULL DEFAULT 0,
	attestation_type TEXT    NOT NULL DEFAULT '',
	aaguid           BLOB,
	name             TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	last_used_at     INTEGER NOT NULL DEFAULT 0,
	disabled         INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);

CREATE TABLE webauthn_challenges (
	id_hash    BLOB    PRIMARY KEY,
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX webauthn_challenges_created ON webauthn_challenges (created_at);
