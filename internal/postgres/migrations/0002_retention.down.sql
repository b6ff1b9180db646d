ALTER TABLE activation_codes DROP COLUMN undeliverable;
DROP INDEX address_codes_oldest_issue_idx;
DROP INDEX outbox_sent_idx;
DROP INDEX users_pending_created_idx;
