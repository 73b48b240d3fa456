-- Version 3: Twofold as an OpenID Connect provider (SPEC §7). Applications (clients), their
-- authorization requests, the tokens issued to them, what people allowed them, the keys that
-- sign ID tokens, and which applications received tokens in which session.
--
-- Lists (redirect URIs, scopes, amr values, groups) are TEXT holding a JSON array of strings,
-- '' for none. Secrets are kept only as SHA-256 hashes (client secrets, codes, tokens); the
-- signing keys only sealed with the server key.

-- Every account has a stable random id for applications (the OpenID Connect sub), never its
-- username: accounts made before this version get one here, later ones from CreateUser.
ALTER TABLE users ADD COLUMN subject TEXT NOT NULL DEFAULT '';
UPDATE users SET subject = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX users_subject ON users (subject);
-- Set once the account signed in with a temporary password mailed to its email.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- A session's sid stays while its id hash changes at every step: the sid of the tokens issued
-- in it. Sessions from before this version get one here. amr is how the person signed in,
-- mfa_required a second factor an application asked for and not yet proved, return_to where
-- the sign-in goes when it is done.
ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
UPDATE sessions SET sid = lower(hex(randomblob(16)));
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN return_to TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_sid ON sessions (sid);

-- Applications registered by an admin. Only the SHA-256 of a confidential client's secret is
-- kept (NULL for a public client).
CREATE TABLE clients (
	id                        TEXT    PRIMARY KEY,
	name                      TEXT    NOT NULL,
	secret_hash               BLOB,
	public                    INTEGER NOT NULL DEFAULT 0,
	redirect_uris             TEXT    NOT NULL DEFAULT '',
	post_logout_redirect_uris TEXT    NOT NULL DEFAULT '',
	backchannel_logout_uri    TEXT    NOT NULL DEFAULT '',
	require_mfa               INTEGER NOT NULL DEFAULT 0,
	skip_consent              INTEGER NOT NULL DEFAULT 0,
	groups                    TEXT    NOT NULL DEFAULT '',
	created_at                INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Authorization requests, from their arrival until their code has expired: request is the
-- validated request as the provider keeps it (JSON), the rest is filled in when a sign-in
-- meets it and when its code is issued and redeemed. Only the SHA-256 of the code is kept.
CREATE TABLE auth_requests (
	id         TEXT    PRIMARY KEY,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	request    BLOB,
	created_at INTEGER NOT NULL,
	done       INTEGER NOT NULL DEFAULT 0,
	user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
	sid        TEXT    NOT NULL DEFAULT '',
	auth_time  INTEGER NOT NULL DEFAULT 0,
	amr        TEXT    NOT NULL DEFAULT '',
	code_hash  BLOB    UNIQUE,
	code_expires_at INTEGER NOT NULL DEFAULT 0,
	redeemed   INTEGER NOT NULL DEFAULT 0,
	replayed   INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

CREATE INDEX auth_requests_created_at ON auth_requests (created_at);
CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);

-- Access and refresh tokens, by the SHA-256 of their secret part. family is the grant they
-- came from (the authorization request's id), revoked as a whole on a replay.
CREATE TABLE tokens (
	id_hash    BLOB    PRIMARY KEY,
	kind       TEXT    NOT NULL,
	family     TEXT    NOT NULL,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	sid        TEXT    NOT NULL DEFAULT '',
	scopes     TEXT    NOT NULL DEFAULT '',
	amr        TEXT    NOT NULL DEFAULT '',
	auth_time  INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX tokens_family ON tokens (family);
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_sid ON tokens (sid);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- What a person allowed an application to ask for.
CREATE TABLE consents (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	scopes     TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX consents_client_id ON consents (client_id);

-- The keys that sign ID tokens, sealed with the server key (key_version is the version that
-- sealed them); retired_at is 0 while a key signs.
CREATE TABLE signing_keys (
	id          TEXT    PRIMARY KEY,
	sealed      BLOB    NOT NULL,
	key_version INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	retired_at  INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Which applications received tokens in which session (by its sid), for back-channel logout
-- when the session ends.
CREATE TABLE session_clients (
	sid        TEXT    NOT NULL,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (sid, client_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX session_clients_client_id ON session_clients (client_id);
CREATE INDEX session_clients_user_id ON session_clients (user_id);
CREATE INDEX session_clients_created_at ON session_clients (created_at);
