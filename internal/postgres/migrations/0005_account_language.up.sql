-- The language an account's emails are written in, chosen at registration. Accounts made
-- before languages existed got English emails, and keep them.
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en'
    CONSTRAINT users_language_check CHECK (language IN ('en', 'fr'));
