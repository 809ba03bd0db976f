-- Module 3, leads & data: leads, lead_field_data, lead_events.

CREATE TABLE leads (
    id                   UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id          UUID NOT NULL,
    workspace_id         UUID NOT NULL,
    email                CITEXT NOT NULL,
    name                 VARCHAR(150),
    company_name         VARCHAR(150),
    phone                VARCHAR(50),
    status               VARCHAR(50) NOT NULL DEFAULT 'NEW',
    source               VARCHAR(50) NOT NULL,
    source_metadata      JSONB,
    assigned_to_user_id  UUID,
    score                INTEGER DEFAULT 0,
    tags                 TEXT[],
    last_activity_at     TIMESTAMP,
    last_email_sent_at   TIMESTAMP,
    last_email_opened_at TIMESTAMP,
    deleted_at           TIMESTAMP,
    created_at           TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at           TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT leads_unique_email_per_workflow UNIQUE (workflow_id, email),
    CONSTRAINT leads_workspace_isolation CHECK (workspace_id IS NOT NULL),
    CONSTRAINT leads_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflows(id) ON DELETE CASCADE,
    CONSTRAINT leads_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE,
    CONSTRAINT leads_assigned_to_user_id_fkey FOREIGN KEY (assigned_to_user_id)
        REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX idx_leads_workflow ON leads(workflow_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_workspace ON leads(workspace_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_email ON leads(email) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_status ON leads(status) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_assigned ON leads(assigned_to_user_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_leads_created ON leads(created_at DESC);
CREATE INDEX idx_leads_tags ON leads USING gin(tags);
CREATE TRIGGER leads_set_updated_at BEFORE UPDATE ON leads
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE lead_field_data (
    id            UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    lead_id       UUID NOT NULL,
    form_field_id UUID NOT NULL,
    value         TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at    TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT lead_field_data_unique_lead_field UNIQUE (lead_id, form_field_id),
    CONSTRAINT lead_field_data_lead_id_fkey FOREIGN KEY (lead_id)
        REFERENCES leads(id) ON DELETE CASCADE,
    CONSTRAINT lead_field_data_form_field_id_fkey FOREIGN KEY (form_field_id)
        REFERENCES form_fields(id) ON DELETE CASCADE
);
CREATE INDEX idx_lead_field_data_lead ON lead_field_data(lead_id);
CREATE INDEX idx_lead_field_data_field ON lead_field_data(form_field_id);
CREATE TRIGGER lead_field_data_set_updated_at BEFORE UPDATE ON lead_field_data
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Append-only. triggered_by_workflow_execution_id is documented as a plain NULL column, not
-- an FK: the audit trail must outlive purged executions (and workflow_executions is created later).
CREATE TABLE lead_events (
    id                                 UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    lead_id                            UUID NOT NULL,
    event_type                         VARCHAR(50) NOT NULL,
    event_category                     VARCHAR(20) NOT NULL DEFAULT 'activity',
    description                        TEXT,
    metadata                           JSONB,
    triggered_by_user_id               UUID,
    triggered_by_workflow_execution_id UUID,
    created_at                         TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT lead_events_valid_category
        CHECK (event_category IN ('activity', 'system', 'communication', 'automation')),
    CONSTRAINT lead_events_lead_id_fkey FOREIGN KEY (lead_id)
        REFERENCES leads(id) ON DELETE CASCADE,
    CONSTRAINT lead_events_triggered_by_user_id_fkey FOREIGN KEY (triggered_by_user_id)
        REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX idx_lead_events_lead ON lead_events(lead_id, created_at DESC);
CREATE INDEX idx_lead_events_type ON lead_events(event_type);
CREATE INDEX idx_lead_events_created ON lead_events(created_at DESC);
