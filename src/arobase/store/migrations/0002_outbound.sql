-- Arobase store, version 2: outbound queue state (message groups, claims, delay warnings) and DKIM keys.

-- Recipients queued by one delivery share an envelope id (the id of the first of them), so the queue
-- delivers them together (one SMTP transaction per destination domain) and the CLI shows one message.
ALTER TABLE outbound ADD COLUMN envelope INTEGER;
-- 1 while a delivery worker of the running server holds the row; reset when the server starts, so a
-- crash never strands a message.
ALTER TABLE outbound ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;
-- 1 once the sender has been told that delivery is delayed (one warning per recipient).
ALTER TABLE outbound ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
-- The host that gave the last answer, for bounces and `arobase queue show`.
ALTER TABLE outbound ADD COLUMN last_host TEXT;

UPDATE outbound SET envelope = (
    SELECT min(o.id) FROM outbound o
    WHERE o.blob_id = outbound.blob_id AND o.sender = outbound.sender AND o.created = outbound.created
);

-- Rows inserted together (same content, sender and second) join the envelope of the latest such row;
-- the store's deliver() needs no change to group them.
CREATE TRIGGER outbound_envelope AFTER INSERT ON outbound WHEN NEW.envelope IS NULL
BEGIN
    UPDATE outbound SET envelope = coalesce(
        (SELECT o.envelope FROM outbound o
         WHERE o.blob_id = NEW.blob_id AND o.sender = NEW.sender AND o.created = NEW.created
           AND o.id <> NEW.id AND o.envelope IS NOT NULL
         ORDER BY o.id DESC LIMIT 1),
        NEW.id)
    WHERE id = NEW.id;
END;

CREATE INDEX outbound_envelope ON outbound(envelope);
CREATE INDEX outbound_due ON outbound(claimed, next_attempt);  -- what is due next, without a scan
CREATE INDEX outbound_blob ON outbound(blob_id, sender, created);

-- DKIM signing keys, one row per (domain, selector). Only active keys sign; retired ones are kept so
-- their DNS records can be listed until they are unpublished.
CREATE TABLE dkim_keys (
    id INTEGER PRIMARY KEY,
    domain TEXT NOT NULL,                 -- A-label, lower case
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL,              -- 'rsa' (rsa-sha256) or 'ed25519' (ed25519-sha256)
    private_key TEXT NOT NULL,            -- PEM (PKCS#8)
    created INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    UNIQUE (domain, selector)
);
CREATE INDEX dkim_keys_domain ON dkim_keys(domain, active);
