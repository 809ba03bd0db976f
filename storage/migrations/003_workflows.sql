-- Module 2, workflow orchestration: workflows, workflow_nodes, workflow_edges, form_fields.

CREATE TABLE workflows (
    id                    UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workspace_id          UUID NOT NULL,
    name                  VARCHAR(150) NOT NULL,
    description           TEXT,
    template_id           VARCHAR(100),
    template_version      INTEGER,
    booking_url           TEXT,
    status                VARCHAR(20) NOT NULL DEFAULT 'draft',
    version               INTEGER NOT NULL DEFAULT 1,
    settings              JSONB DEFAULT '{}'::jsonb,
    total_executions      INTEGER NOT NULL DEFAULT 0,
    successful_executions INTEGER NOT NULL DEFAULT 0,
    failed_executions     INTEGER NOT NULL DEFAULT 0,
    last_executed_at      TIMESTAMP,
    deleted_at            TIMESTAMP,
    created_at            TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at            TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workflows_valid_status CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    CONSTRAINT workflows_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES workspaces(id) ON DELETE CASCADE
);
CREATE INDEX idx_workflows_workspace ON workflows(workspace_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflows_status ON workflows(status) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflows_template ON workflows(template_id, template_version);
CREATE TRIGGER workflows_set_updated_at BEFORE UPDATE ON workflows
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE workflow_nodes (
    id                 UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id        UUID NOT NULL,
    react_flow_node_id VARCHAR(100) NOT NULL,
    node_type          VARCHAR(50) NOT NULL,
    node_category      VARCHAR(20) NOT NULL,
    position_x         NUMERIC(10,2) NOT NULL DEFAULT 0,
    position_y         NUMERIC(10,2) NOT NULL DEFAULT 0,
    config             JSONB NOT NULL DEFAULT '{}'::jsonb,
    is_enabled         BOOLEAN NOT NULL DEFAULT true,
    execution_order    INTEGER,
    deleted_at         TIMESTAMP,
    created_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT workflow_nodes_unique_react_flow_id UNIQUE (workflow_id, react_flow_node_id),
    CONSTRAINT workflow_nodes_valid_category CHECK (node_category IN ('trigger', 'action', 'logic', 'utility')),
    CONSTRAINT workflow_nodes_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflows(id) ON DELETE CASCADE
);
CREATE INDEX idx_workflow_nodes_workflow ON workflow_nodes(workflow_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflow_nodes_type ON workflow_nodes(node_type);
CREATE INDEX idx_workflow_nodes_category ON workflow_nodes(node_category);
CREATE INDEX idx_workflow_nodes_config ON workflow_nodes USING gin(config);
CREATE TRIGGER workflow_nodes_set_updated_at BEFORE UPDATE ON workflow_nodes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- source_node_id/target_node_id hold react_flow_node_id values, not node PKs (per spec),
-- so they carry no foreign key: the editor saves a whole graph and may write edges first.
CREATE TABLE workflow_edges (
    id                 UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id        UUID NOT NULL,
    react_flow_edge_id VARCHAR(100) NOT NULL,
    source_node_id     VARCHAR(100) NOT NULL,
    target_node_id     VARCHAR(100) NOT NULL,
    source_handle      VARCHAR(50),
    target_handle      VARCHAR(50),
    edge_type          VARCHAR(20) DEFAULT 'default',
    label              VARCHAR(100),
    condition          JSONB,
    is_enabled         BOOLEAN NOT NULL DEFAULT true,
    deleted_at         TIMESTAMP,
    created_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at         TIMESTAMP NOT NULL DEFAULT NOW(),
    -- Handles are usually NULL (single-output nodes). With the default NULLS DISTINCT the
    -- constraint would never fire for them, so the same connection could be stored twice;
    -- strict reading: a NULL handle equals a NULL handle.
    CONSTRAINT workflow_edges_unique_connection
        UNIQUE NULLS NOT DISTINCT (workflow_id, source_node_id, target_node_id, source_handle, target_handle),
    CONSTRAINT workflow_edges_no_self_loop CHECK (source_node_id <> target_node_id),
    CONSTRAINT workflow_edges_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflows(id) ON DELETE CASCADE
);
CREATE INDEX idx_workflow_edges_workflow ON workflow_edges(workflow_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflow_edges_source ON workflow_edges(source_node_id);
CREATE INDEX idx_workflow_edges_target ON workflow_edges(target_node_id);
CREATE INDEX idx_workflow_edges_condition ON workflow_edges USING gin(condition);
CREATE TRIGGER workflow_edges_set_updated_at BEFORE UPDATE ON workflow_edges
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE form_fields (
    id               UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    workflow_id      UUID NOT NULL,
    field_key        VARCHAR(50) NOT NULL,
    label            VARCHAR(150) NOT NULL,
    field_type       VARCHAR(20) NOT NULL,
    options          JSONB,
    placeholder      VARCHAR(255),
    help_text        TEXT,
    is_required      BOOLEAN NOT NULL DEFAULT true,
    validation_rules JSONB,
    display_order    INTEGER NOT NULL DEFAULT 0,
    is_active        BOOLEAN NOT NULL DEFAULT true,
    deleted_at       TIMESTAMP,
    created_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at       TIMESTAMP NOT NULL DEFAULT NOW(),
    CONSTRAINT form_fields_unique_key_per_workflow UNIQUE (workflow_id, field_key),
    CONSTRAINT form_fields_valid_type
        CHECK (field_type IN ('TEXT', 'EMAIL', 'TEXTAREA', 'DROPDOWN', 'NUMBER', 'DATE', 'CHECKBOX')),
    CONSTRAINT form_fields_workflow_id_fkey FOREIGN KEY (workflow_id)
        REFERENCES workflows(id) ON DELETE CASCADE
);
CREATE INDEX idx_form_fields_workflow ON form_fields(workflow_id, display_order) WHERE deleted_at IS NULL;
CREATE TRIGGER form_fields_set_updated_at BEFORE UPDATE ON form_fields
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
