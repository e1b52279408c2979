-- Arobase store, version 6: senders whose remote images the webmail always shows, per account.

-- The reader chose "always for this sender" on one of their messages; /settings lists and removes them.
CREATE TABLE web_image_senders (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sender TEXT NOT NULL,  -- the From address, lower-cased
    added INTEGER NOT NULL,  -- Unix time
    PRIMARY KEY (account_id, sender)
) WITHOUT ROWID;
