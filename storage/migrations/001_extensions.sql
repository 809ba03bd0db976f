-- Extensions every later migration relies on, and the shared set_updated_at() trigger function.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS citext;

-- Attached as a BEFORE UPDATE trigger to every table with an updated_at column.
-- NOW() (transaction start) matches the column defaults, so a row inserted and then
-- updated in the same transaction keeps created_at = updated_at.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := NOW();
    RETURN NEW;
END;
$$;
