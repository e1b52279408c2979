-- A limit on the number of messages an account keeps (IMAP QUOTA's MESSAGE resource); 0 = none.
ALTER TABLE accounts ADD COLUMN message_quota INTEGER NOT NULL DEFAULT 0;
