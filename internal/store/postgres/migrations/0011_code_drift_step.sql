-- Version 11: the TOTP step each account's last wrong code matched (SPEC §10 "Clock drift"),
-- with the same column as SQLite's 0011_code_drift_step.sql. A row written before has 0, which
-- pairs with nothing.
ALTER TABLE code_drift ADD COLUMN step BIGINT NOT NULL DEFAULT 0;
