-- An email's first open is recorded once, however many times (and however concurrently) its
-- pixel loads: one EMAIL_OPENED event per lead and sending execution. Doubles that concurrent
-- loads wrote before this index existed are removed first (the earliest stays).
DELETE FROM lead_events e USING lead_events first
WHERE e.event_type = 'EMAIL_OPENED' AND first.event_type = 'EMAIL_OPENED' AND e.lead_id = first.lead_id
  AND e.triggered_by_workflow_execution_id = first.triggered_by_workflow_execution_id
  AND (e.created_at, e.id) > (first.created_at, first.id);
CREATE UNIQUE INDEX idx_lead_events_first_open ON lead_events(lead_id, triggered_by_workflow_execution_id)
    WHERE event_type = 'EMAIL_OPENED';
