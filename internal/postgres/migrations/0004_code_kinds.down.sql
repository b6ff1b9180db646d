ALTER TABLE outbox DROP COLUMN email_kind;
DROP INDEX outbox_user_idx;
ALTER TABLE outbox DROP COLUMN user_id;

-- Only activation codes existed before.
DELETE FROM codes WHERE kind <> 'activation';
ALTER TABLE codes DROP CONSTRAINT codes_pkey;
ALTER TABLE codes ADD CONSTRAINT activation_codes_pkey PRIMARY KEY (user_id);
ALTER TABLE codes DROP COLUMN new_email;
ALTER TABLE codes DROP COLUMN kind;

ALTER INDEX codes_message_idx RENAME TO activation_codes_message_idx;
ALTER TABLE codes RENAME CONSTRAINT codes_attempts_check TO activation_codes_attempts_check;
ALTER TABLE codes RENAME CONSTRAINT codes_message_fkey TO activation_codes_message_fkey;
ALTER TABLE codes RENAME CONSTRAINT codes_user_fkey TO activation_codes_user_fkey;
ALTER TABLE codes RENAME TO activation_codes;
