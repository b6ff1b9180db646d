-- Account events travel through the outbox beside emails: same transaction as the change,
-- same claims, leases, retries and dead state, to a second destination.
ALTER TABLE outbox ADD COLUMN destination text NOT NULL DEFAULT 'email'
    CONSTRAINT outbox_destination_check CHECK (destination IN ('email', 'event'));
-- An event names its type instead of an email kind.
ALTER TABLE outbox ALTER COLUMN email_kind DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN event_type text;
-- The account an event is about. Not a foreign key: events outlive their account, so that
-- the rest of the product learns of its deletion.
ALTER TABLE outbox ADD COLUMN account_id uuid;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (
    (destination = 'email' AND email_kind IS NOT NULL AND event_type IS NULL AND account_id IS NULL)
    OR (destination = 'event' AND email_kind IS NULL AND event_type IS NOT NULL AND account_id IS NOT NULL)
) NOT VALID;
ALTER TABLE outbox VALIDATE CONSTRAINT outbox_kind_check;

-- Events of one account go out in order: a claim skips an event while an earlier one of its
-- account is pending, which it learns by a lookup in this index.
CREATE INDEX outbox_event_order_idx ON outbox (account_id, id)
    WHERE status = 'pending' AND account_id IS NOT NULL;
