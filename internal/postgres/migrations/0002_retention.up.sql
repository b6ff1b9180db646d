-- Retention walks each of these oldest first, in small batches, so that a pass reads what it
-- deletes and little else, however large the tables grow.

-- Pending accounts by age. Activation takes a row out of it.
CREATE INDEX users_pending_created_idx ON users (created_at) WHERE status = 'pending';

-- Sent emails by when the provider accepted them (dead ones have outbox_dead_idx).
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE status = 'sent';

-- Address records by the oldest issue time in their history, which is kept oldest first;
-- an empty history is not indexed.
CREATE INDEX address_codes_oldest_issue_idx ON address_codes ((issued[1])) WHERE issued <> '{}';

-- Whether the email carrying a code was given up on, once the outbox row that said so is
-- deleted: a code whose email is dead must not turn into one still on its way.
ALTER TABLE activation_codes ADD COLUMN undeliverable boolean NOT NULL DEFAULT false;
