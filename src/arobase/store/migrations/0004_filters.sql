-- Arobase store, version 4: protection (spam, phishing, dangerous attachments).

-- Bayesian token counts. account_id 0 is the global model shared by every account; the others are
-- what one account's own training added. Tokens are 64-bit hashes: fixed size, no personal text.
CREATE TABLE filter_tokens (
    account_id INTEGER NOT NULL,
    token INTEGER NOT NULL,
    spam INTEGER NOT NULL DEFAULT 0,
    ham INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, token)
) WITHOUT ROWID;

-- How many messages each model learnt (account_id 0 = global).
CREATE TABLE filter_totals (
    account_id INTEGER PRIMARY KEY,
    spam INTEGER NOT NULL DEFAULT 0,
    ham INTEGER NOT NULL DEFAULT 0
);

-- The training ledger: a message counts once per model; relearning it the other way moves it.
CREATE TABLE filter_trained (
    account_id INTEGER NOT NULL,
    digest TEXT NOT NULL,                 -- blob hash, or SHA-256 of a training file's bytes
    is_spam INTEGER NOT NULL,
    trained INTEGER NOT NULL,             -- unix seconds
    PRIMARY KEY (account_id, digest)
) WITHOUT ROWID;

-- Per-account allow and block lists: an address ("bob@example.org") or a domain ("example.org").
CREATE TABLE filter_lists (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    entry TEXT NOT NULL,                  -- lower case, A-label domain
    kind TEXT NOT NULL CHECK (kind IN ('allow', 'block')),
    created INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry)
) WITHOUT ROWID;

-- Addresses an account has written to: mail from them is favoured.
CREATE TABLE filter_correspondents (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address TEXT NOT NULL,                -- lower case
    messages INTEGER NOT NULL DEFAULT 1,
    last INTEGER NOT NULL,
    PRIMARY KEY (account_id, address)
) WITHOUT ROWID;

-- What the pipeline decided for each delivered message, for the webmail ("Why is this in Junk?").
CREATE TABLE filter_verdicts (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,                 -- blob hash of the stored message
    action TEXT NOT NULL,                 -- deliver, junk, warn, quarantine
    score REAL NOT NULL,
    reasons TEXT NOT NULL,                -- JSON list of {name, score, detail}
    created INTEGER NOT NULL,
    PRIMARY KEY (account_id, digest)
) WITHOUT ROWID;

-- Attachments taken out of delivered messages; the original bytes stay here until released or deleted.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,                 -- SHA-256 of the original message
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    reasons TEXT NOT NULL,                -- JSON list of plain-words reasons
    created INTEGER NOT NULL,
    released INTEGER,                     -- unix seconds of release, NULL while held
    data BLOB NOT NULL
);
CREATE INDEX quarantine_account ON quarantine(account_id);
