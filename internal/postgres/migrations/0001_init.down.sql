DROP TABLE activation_codes;
DROP TABLE outbox;
DROP TABLE users;
DROP TABLE address_codes;
