-- Arobase store, version 1: domains, accounts, aliases, mailboxes, messages, blobs, full-text index.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,            -- A-label, lower case
    created INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    address TEXT NOT NULL,                -- local part as created, A-label domain
    key TEXT NOT NULL UNIQUE,             -- case-folded lookup key
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    quota INTEGER NOT NULL DEFAULT 0,     -- bytes; 0 = unlimited
    used INTEGER NOT NULL DEFAULT 0,      -- bytes in all mailboxes
    disabled INTEGER NOT NULL DEFAULT 0,
    modseq INTEGER NOT NULL DEFAULT 1,    -- last modseq handed out in this account
    created INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE aliases (
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    source TEXT NOT NULL,                 -- as created; '@domain' for a catch-all
    key TEXT NOT NULL UNIQUE              -- case-folded lookup key
);
CREATE INDEX aliases_domain ON aliases(domain_id);

CREATE TABLE alias_targets (
    alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (alias_id, position)
);

CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    special_use TEXT,
    subscribed INTEGER NOT NULL DEFAULT 1,
    selectable INTEGER NOT NULL DEFAULT 1,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    messages INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);

-- One row per distinct message content, parsed once at ingest and shared by every copy.
CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,            -- SHA-256 hex of the bytes on disk
    size INTEGER NOT NULL,
    parsed TEXT NOT NULL,                 -- JSON of arobase.mime.ParsedMessage, less the columns below
    imap_envelope BLOB NOT NULL,          -- exact IMAP FETCH forms, computed once at ingest
    imap_body BLOB NOT NULL,
    imap_bodystructure BLOB NOT NULL,
    sent_date INTEGER,                    -- Date: header, unix seconds
    subject TEXT NOT NULL DEFAULT '',
    base_subject TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL DEFAULT '',      -- first From address, for sorting and listing
    message_id TEXT,
    in_reply_to TEXT,
    refs TEXT NOT NULL DEFAULT '',        -- References, space separated
    preview TEXT NOT NULL DEFAULT '',
    has_attachments INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blobs_message_id ON blobs(message_id);

-- The bytes of messages up to Store.inline_max, kept in the same commit as their metadata, so one
-- fsync of the write-ahead log makes a whole batch of deliveries durable. Larger messages are
-- files under blobs/, fsynced before the commit that references them.
CREATE TABLE blob_data (
    blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);

-- Substring index (IMAP SEARCH is a substring match); rowid = blobs.id.
CREATE VIRTUAL TABLE blob_text USING fts5(headers, body, attachments, tokenize = 'trigram');

CREATE TABLE messages (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags INTEGER NOT NULL DEFAULT 0,     -- bit set of the system flags
    keywords TEXT NOT NULL DEFAULT '',    -- space separated
    internal_date INTEGER NOT NULL,       -- unix seconds
    internal_tz INTEGER NOT NULL DEFAULT 0, -- minutes east of UTC
    save_date INTEGER NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES blobs(id),
    size INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);

-- Tombstones, so a resynchronising client can learn what vanished since its last modseq.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;

-- Mail accepted for other domains, held until the outbound queue delivers it.
CREATE TABLE outbound (
    id INTEGER PRIMARY KEY,
    blob_id INTEGER NOT NULL REFERENCES blobs(id),
    sender TEXT NOT NULL,                 -- envelope sender; '' for the null sender
    recipient TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    created INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbound_next ON outbound(next_attempt);
