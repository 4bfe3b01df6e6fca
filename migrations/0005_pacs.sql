-- PACS round trip: series retrieved from configured PACS nodes, and DICOM SEG objects sent back.
-- Nodes themselves are configuration (PACS_NODES); rows here name them by their configured name.

-- Instances retrieved from a PACS are stored like any other; 'pacs' says how they came in.
ALTER TABLE dicom_instances DROP CONSTRAINT IF EXISTS dicom_instances_received_via_check;
ALTER TABLE dicom_instances ADD CONSTRAINT dicom_instances_received_via_check
  CHECK (received_via IN ('stow', 'upload', 'dimse', 'pacs'));

-- Which node a series was retrieved from: export rules ("send results back where they came from") read it.
CREATE TABLE pacs_retrieved_series (
  series_uid   text NOT NULL,
  node         text NOT NULL,
  retrieved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (series_uid, node)
);

-- One row per (result, node): the latest attempt to store the result's SEG on that node.
-- state: queued | running | succeeded | failed. detail is the reason shown to users (no patient data).
CREATE TABLE pacs_exports (
  result_id            uuid NOT NULL REFERENCES results (id) ON DELETE CASCADE,
  node                 text NOT NULL,
  job_id               uuid REFERENCES jobs (id) ON DELETE SET NULL,
  state                text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
  detail               text,
  seg_sop_instance_uid text,
  -- 'rule' (automatic) or 'user' (Send to PACS).
  requested_by         text NOT NULL DEFAULT 'user',
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (result_id, node)
);
