-- Email tracking and unsubscribe. An unsubscribed lead receives no further ACTION_SEND_EMAIL from
-- its workspace (the step is skipped with the reason); unsubscribed_at (an extra column) says
-- since when. Opens and clicks are lead events (EMAIL_OPENED, EMAIL_CLICKED) and daily counters.
ALTER TABLE leads ADD COLUMN unsubscribed_at TIMESTAMPTZ;
