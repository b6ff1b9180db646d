-- When a failed attempt was scheduled for a retry; a claim clears it, so it is set only while
-- the message waits out a backoff, never while a dispatcher holds it (next_attempt_at is then
-- the end of a live lease). After a provider outage the dispatcher takes the messages waiting
-- since long enough before their backoffs run out.
ALTER TABLE outbox ADD COLUMN retried_at timestamptz;

-- The outbox is a queue: every message is inserted, updated at each claim and mark, and leaves
-- the pending set, so its partial indexes fill with dead entries that every claim walks
-- until a vacuum removes them. With the default settings a vacuum waits for a fifth of the
-- table to be dead, which on a table holding days of sent history means hours of churn.
-- Vacuum after a fixed number of dead rows instead, without the cost-based pauses, and
-- keep the statistics fresh enough to count the pending set.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000
);
