-- Calendly bookings (billing issue, item 4): POST /integrations/calendly/webhook/{workspace_id}
-- applies each `invitee.created` once, keyed by Calendly's invitee URI (a replay changes
-- nothing). A row is written only when a lead of the workspace matched the invitee's email, in
-- the same transaction as the lead's status change and its lead_events row.

CREATE TABLE calendly_bookings (
    invitee_uri        TEXT PRIMARY KEY,            -- payload.uri (.../scheduled_events/X/invitees/Y)
    workspace_id       UUID NOT NULL,
    lead_id            UUID NOT NULL,
    scheduled_event_uri TEXT,                       -- payload.scheduled_event.uri
    -- booked: the lead moved to BOOKED; kept: it was BOOKED, WON or LOST already and stayed so.
    outcome            VARCHAR(20) NOT NULL,
    received_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT calendly_bookings_valid_outcome CHECK (outcome IN ('booked', 'kept')),
    CONSTRAINT calendly_bookings_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT calendly_bookings_lead_id_fkey FOREIGN KEY (lead_id)
        REFERENCES leads(id) ON DELETE CASCADE
);
CREATE INDEX idx_calendly_bookings_lead ON calendly_bookings(lead_id);
