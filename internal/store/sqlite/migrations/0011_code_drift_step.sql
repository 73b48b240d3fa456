-- Version 11: the TOTP step each account's last wrong code matched (SPEC §10 "Clock drift"),
-- beside its offset, so that the hint needs two different codes of two different steps. A row
-- written before has 0, which pairs with nothing.
ALTER TABLE code_drift ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
