-- The key-value table behind store.KV. Keys are bytes so that they sort as
-- Go strings do (bytewise) whatever the database's collation.
CREATE TABLE IF NOT EXISTS gatehouse_kv (
    key        BYTEA PRIMARY KEY,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ
);
-- The sweep finds expired entries by it.
CREATE INDEX IF NOT EXISTS gatehouse_kv_expires_at ON gatehouse_kv (expires_at);
