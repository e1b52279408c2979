-- Arobase store, version 11: the Bayes counts hold no character 4-grams.
-- Only the logistic model reads the grams (their tokens carry 0x5A17 in their top 16 bits), but
-- `arobase filter train` used to count them for Bayes too, where they were never read: a third of
-- the table, which the classifier now loads whole. Message totals are unchanged.
DELETE FROM filter_tokens WHERE token >> 48 = 23063;
