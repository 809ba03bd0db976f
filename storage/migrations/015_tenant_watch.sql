-- Every node polls, once a second, for workspaces, workflows and form fields changed since its
-- last look (however they changed: CLI, API or a direct UPDATE), so a deactivated workspace or a
-- paused workflow stops taking triggers on every node within two seconds. These indexes keep that
-- poll a short range scan. The set_updated_at() triggers that move updated_at exist since 002/003.
CREATE INDEX idx_workspaces_updated ON workspaces(updated_at);
CREATE INDEX idx_workflows_updated ON workflows(updated_at);
CREATE INDEX idx_form_fields_updated ON form_fields(updated_at);
