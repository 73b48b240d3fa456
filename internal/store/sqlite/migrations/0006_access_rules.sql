-- Version 6: the access rules of forward auth (SPEC §8), an ordered list. position is the
-- rule's place from 1, each once: every change renumbers the list in one transaction, under
-- the list's lock (SQLite's single writer here; see the store's AccessRuleQueries), and the
-- unique index makes two rules at one position impossible whatever happens. hosts, methods and
-- subjects are lists as the store keeps every list (JSON text, '' for none); path is a
-- regular expression, '' for any path. The meta row access_rules_version counts the changes,
-- so that every instance's cache tells a change with one small read.
CREATE TABLE access_rules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	position   INTEGER NOT NULL,
	hosts      TEXT    NOT NULL,
	path       TEXT    NOT NULL DEFAULT '',
	methods    TEXT    NOT NULL DEFAULT '',
	subjects   TEXT    NOT NULL DEFAULT '',
	policy     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX access_rules_position ON access_rules (position);
