-- Arobase store, version 7: how far back the expunge tombstones go (QRESYNC).

-- QRESYNC (RFC 7162): the sweep keeps the last tombstones of each mailbox and forgets older ones;
-- expunged_floor is the highest modseq forgotten, so the history is complete only above it.
ALTER TABLE mailboxes ADD COLUMN expunged_floor INTEGER NOT NULL DEFAULT 0;
