-- Arobase store, version 10: the spam classifier's second model, a logistic regression.
-- One weight per hashed token and model (account_id 0 = global, others = an account's own
-- corrections on top of it). Tokens absent here weigh 0.
CREATE TABLE filter_weights (
    account_id INTEGER NOT NULL,
    token INTEGER NOT NULL,
    weight REAL NOT NULL,
    PRIMARY KEY (account_id, token)
) WITHOUT ROWID;
