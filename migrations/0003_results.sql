-- One row per processed series: what came in, which engine ran, the structures found and the files
-- written under DATA_DIR/results/<id>/. A job has at most one result: a re-run after a crash or a
-- retry replaces it (the id is derived from the job id), so results are never duplicated.
-- job_id survives the job row being purged (SET NULL): a result outlives its queue history.

CREATE TABLE results (
  id          uuid PRIMARY KEY,
  job_id      uuid UNIQUE REFERENCES jobs (id) ON DELETE SET NULL,
  name        text NOT NULL,
  engine      text NOT NULL,
  -- {kind: 'dicom-series', studyInstanceUid, seriesInstanceUid, ...} or {kind: 'volume-file', file, ...}
  source      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Per structure: label, name, colour, voxels, volumeMl, triangles, bounds (see _segments.json).
  segments    jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- [{name, size}] of the files in the result folder.
  files       jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- NULL when RESULT_RETENTION_DAYS=0 (kept until deleted by hand).
  expires_at  timestamptz
);

CREATE INDEX results_created ON results (created_at DESC);
CREATE INDEX results_expiring ON results (expires_at) WHERE expires_at IS NOT NULL;
