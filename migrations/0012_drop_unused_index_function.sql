-- The three-argument dicom_index_instances of migration 0006 has had no caller since migration 0007's overload,
-- which also takes OVERWRITE_INSTANCES (server/dicomIndex/indexInstances.ts). Dropped so that one function is
-- the index's only writer.
DROP FUNCTION IF EXISTS dicom_index_instances(jsonb, jsonb, jsonb);
