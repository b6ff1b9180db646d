-- The record of a request sent with an Idempotency-Key: reserved while it is processed
-- (locked_until), and given its answer in the transaction of its effect, so that a retry is
-- answered from it. Kept 24 hours.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,  -- the account that asked, or '' without Basic Auth
    endpoint     text NOT NULL,  -- method and route, e.g. 'POST /v1/users'
    key          text NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    answer       bytea,          -- set with the effect; NULL while processed
    locked_until timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, endpoint, key)
);

-- Retention walks them oldest first.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
