-- The address record: one row per email address ever used. It keeps the times codes were
-- issued to the address (the daily quota) and is the row every change to the address locks,
-- so that concurrent registrations of one address take turns.
CREATE TABLE address_codes (
    email  text PRIMARY KEY CONSTRAINT address_codes_email_lower CHECK (email = lower(email)),
    issued timestamptz[] NOT NULL DEFAULT '{}'
);

-- An account lives under its address record and holds it alone.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL
                  CONSTRAINT users_email_key UNIQUE
                  CONSTRAINT users_email_address_fkey REFERENCES address_codes (email),
    password_hash text NOT NULL,
    status        text NOT NULL CONSTRAINT users_status_check CHECK (status IN ('pending', 'active')),
    created_at    timestamptz NOT NULL,
    activated_at  timestamptz,
    CONSTRAINT users_email_lower CHECK (email = lower(email)),
    CONSTRAINT users_activation_check CHECK ((status = 'active') = (activated_at IS NOT NULL))
);

-- The transactional outbox. The idempotency key is sent with every attempt of one message.
-- A claim leases a message by pushing next_attempt_at past the lease, so a message whose
-- sender died becomes due again by itself.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key uuid NOT NULL CONSTRAINT outbox_idempotency_key_key UNIQUE DEFAULT gen_random_uuid(),
    recipient       text NOT NULL,
    -- Sealed with the deployment secret that key_id names: a dispatcher claims only what it
    -- can open.
    payload         bytea NOT NULL,
    key_id          bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CONSTRAINT outbox_attempts_check CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    dead_at         timestamptz,
    CONSTRAINT outbox_sent_check CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT outbox_dead_check CHECK ((status = 'dead') = (dead_at IS NOT NULL))
);

-- What the claim query scans: due messages only, so sent and dead history costs nothing.
CREATE INDEX outbox_due_idx ON outbox (key_id, next_attempt_at) WHERE status = 'pending';
-- Dead messages are the ones operators look for.
CREATE INDEX outbox_dead_idx ON outbox (dead_at) WHERE status = 'dead';

-- The current activation code of a pending account, as a keyed hash. Its lifetime starts at
-- sent_at, set when the provider accepted the outbox message that carries it.
CREATE TABLE activation_codes (
    user_id    uuid PRIMARY KEY CONSTRAINT activation_codes_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    issued_at  timestamptz NOT NULL,
    sent_at    timestamptz,
    attempts   integer NOT NULL DEFAULT 0 CONSTRAINT activation_codes_attempts_check CHECK (attempts >= 0),
    message_id bigint CONSTRAINT activation_codes_message_fkey REFERENCES outbox (id)
);

-- MarkSent finds the code by its message.
CREATE INDEX activation_codes_message_idx ON activation_codes (message_id);
