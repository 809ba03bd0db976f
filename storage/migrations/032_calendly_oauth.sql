-- Calendly as a third integration (issue #16 item 4): a connect of provider_type 'CALENDLY' goes
-- through oauth_authorizations like Google's and Outlook's. The connected account is an
-- oauth_credentials row (002) whose metadata holds the workspace's own webhook subscription:
-- {"webhookSubscription": its URI, "organization": the Calendly organization's URI,
--  "webhookSigningKey": the subscription's signing key, sealed (crypto/secret_box, bound to
--  "oauth_credentials.metadata.webhookSigningKey:" || id || ":" || workspace_id)}.
-- A disconnect wipes the metadata with the tokens.

ALTER TABLE oauth_authorizations DROP CONSTRAINT oauth_authorizations_provider;
ALTER TABLE oauth_authorizations ADD CONSTRAINT oauth_authorizations_provider
    CHECK (provider_type IN ('GOOGLE_EMAIL', 'OUTLOOK_EMAIL', 'CALENDLY'));
