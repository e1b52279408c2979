-- Arobase store, version 9: messages(mailbox_id, modseq) is no longer indexed.
-- The CHANGEDSINCE and QRESYNC queries walk a mailbox by primary key (their ORDER BY uid makes the
-- planner prefer it), so the index was never read, while every flag change and every delivery had
-- to rewrite it: a third of the cost of STORE 1:* +FLAGS (\Seen) on a large mailbox.
DROP INDEX messages_modseq;
