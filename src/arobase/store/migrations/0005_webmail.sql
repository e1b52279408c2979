-- Arobase store, version 5: the webmail's newest-first lists, conversations, and per-account preferences.

-- A folder's page (and a search's walk), newest first, read straight off this index instead of
-- sorting the whole folder.
CREATE INDEX messages_arrival ON messages(mailbox_id, internal_date, uid);

-- Replies to a message, for the conversation view (Message-ID already has blobs_message_id).
CREATE INDEX blobs_in_reply_to ON blobs(in_reply_to);

-- Webmail preferences of an account (the signature added to new messages).
CREATE TABLE web_prefs (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    signature TEXT NOT NULL DEFAULT ''
);
