DELETE FROM outbox WHERE destination = 'event';
DROP INDEX outbox_event_order_idx;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox DROP COLUMN account_id;
ALTER TABLE outbox DROP COLUMN event_type;
ALTER TABLE outbox ALTER COLUMN email_kind SET NOT NULL;
ALTER TABLE outbox DROP COLUMN destination;
