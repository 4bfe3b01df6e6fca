-- Download links (QR codes) as rows: the link is an opaque random token of which only the SHA-256 is kept, so a copy
-- of the database opens no link; each lists the result files it grants (and which of them hold patient data), who
-- made it, until when, and whether it was revoked. The creator and admins list and revoke them (api.md).
CREATE TABLE download_links (
  id          uuid PRIMARY KEY,
  token_hash  text NOT NULL UNIQUE,
  -- Who may revoke it besides admins: 'user:<user id>', 'token:<token id>' or 'anonymous' (AUTH=off).
  owner       text NOT NULL,
  -- How the audit log names the creator ('user:<name>', 'token:<name>', 'anonymous').
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  revoked_by  text,
  -- [{ "resultId": ..., "name": ..., "patientData": true|false }], in the order the phone page lists them.
  files       jsonb NOT NULL
);
CREATE INDEX download_links_active ON download_links (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX download_links_owner ON download_links (owner, expires_at);

-- An instance file found at start without its index row (a crash between placing it and indexing it) is indexed
-- then, when it is a whole, valid instance (server/ingest/reconcile.ts).
ALTER TABLE dicom_instances DROP CONSTRAINT IF EXISTS dicom_instances_received_via_check;
ALTER TABLE dicom_instances ADD CONSTRAINT dicom_instances_received_via_check
  CHECK (received_via IN ('stow', 'upload', 'dimse', 'pacs', 'recovered'));
