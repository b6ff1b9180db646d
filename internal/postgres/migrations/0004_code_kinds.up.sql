-- Codes of kinds: activation, password reset and address change codes are one concept, kept
-- in one table, at most one live code per account and kind. Existing activation codes stay.
ALTER TABLE activation_codes RENAME TO codes;
ALTER TABLE codes RENAME CONSTRAINT activation_codes_pkey TO codes_pkey_old;
ALTER TABLE codes RENAME CONSTRAINT activation_codes_user_fkey TO codes_user_fkey;
ALTER TABLE codes RENAME CONSTRAINT activation_codes_message_fkey TO codes_message_fkey;
ALTER TABLE codes RENAME CONSTRAINT activation_codes_attempts_check TO codes_attempts_check;
ALTER INDEX activation_codes_message_idx RENAME TO codes_message_idx;

ALTER TABLE codes ADD COLUMN kind text NOT NULL DEFAULT 'activation'
    CONSTRAINT codes_kind_check CHECK (kind IN ('activation', 'password_reset', 'email_change'));
-- The address an email_change code was sent to, and proves; the other kinds go to the
-- account's own address.
ALTER TABLE codes ADD COLUMN new_email text
    CONSTRAINT codes_new_email_check CHECK ((kind = 'email_change') = (new_email IS NOT NULL));
ALTER TABLE codes DROP CONSTRAINT codes_pkey_old;
ALTER TABLE codes ADD CONSTRAINT codes_pkey PRIMARY KEY (user_id, kind);

-- The account an email is about. Deleting an account deletes every email to it, sent or not,
-- whichever address it went to (an address change code goes to the new address, its notice
-- to the old one).
ALTER TABLE outbox ADD COLUMN user_id uuid
    CONSTRAINT outbox_user_fkey REFERENCES users (id) ON DELETE CASCADE;
-- Until now every email went to its account's own address.
UPDATE outbox o SET user_id = u.id FROM users u WHERE u.email = o.recipient;
CREATE INDEX outbox_user_idx ON outbox (user_id);

-- What each email is (registration.EmailKind): every email until now was an activation code.
-- regapi names the kind of every row it writes; the defaults describe the rows written before.
ALTER TABLE outbox ADD COLUMN email_kind text NOT NULL DEFAULT 'activation_code'
    CONSTRAINT outbox_email_kind_check CHECK (email_kind IN ('activation_code',
        'password_reset_code', 'email_change_code', 'password_changed', 'email_changed'));
