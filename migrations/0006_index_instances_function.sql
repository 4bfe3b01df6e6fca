-- The index write of a batch of received instances, as one function call (server/ingest/storeInstance.ts).
-- A PL/pgSQL function keeps the plan of its statement from call to call (per connection), where the same
-- statement sent as text is parsed and planned again each time: in embedded PGlite that planning ran on
-- the event loop that also receives the data, about 1 ms of an instance's 2 ms index write.
--
-- studies, series, instances: JSON arrays of rows keyed by column name, one row per key, sorted by key
-- (the caller merges a batch's rows: each column the last non-null value in arrival order). Returns the
-- previous path of every instance that was already stored.
--
-- Every part of the statement sees its one snapshot, so `old` reads the rows as they were before the batch
-- whatever order PostgreSQL runs the parts in; FOR UPDATE waits for a concurrent writer of the same rows
-- and then reads its committed copy. Foreign keys are checked at the end of the statement, after the
-- study and series rows are in. A series that lost an instance to another series gets a new revision (its
-- next job must not list the moved file), unless the batch writes that series anyway: one statement must
-- not update a row twice. Rows are written in key order, so concurrent batches lock them in one order.
CREATE FUNCTION dicom_index_instances(studies jsonb, series jsonb, instances jsonb)
RETURNS TABLE (sop_uid text, previous_path text)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  WITH new_studies AS (
    INSERT INTO dicom_studies AS t (study_uid, patient_name, patient_id, patient_birth_date, patient_sex, study_date, study_time,
        accession_number, referring_physician_name, study_id, study_description, timezone_offset, specific_character_set)
    SELECT r.study_uid, r.patient_name, r.patient_id, r.patient_birth_date, r.patient_sex, r.study_date, r.study_time,
        r.accession_number, r.referring_physician_name, r.study_id, r.study_description, r.timezone_offset, r.specific_character_set
      FROM jsonb_populate_recordset(NULL::dicom_studies, studies) AS r
    ON CONFLICT (study_uid) DO UPDATE SET
      patient_name = COALESCE(EXCLUDED.patient_name, t.patient_name),
      patient_id = COALESCE(EXCLUDED.patient_id, t.patient_id),
      patient_birth_date = COALESCE(EXCLUDED.patient_birth_date, t.patient_birth_date),
      patient_sex = COALESCE(EXCLUDED.patient_sex, t.patient_sex),
      study_date = COALESCE(EXCLUDED.study_date, t.study_date),
      study_time = COALESCE(EXCLUDED.study_time, t.study_time),
      accession_number = COALESCE(EXCLUDED.accession_number, t.accession_number),
      referring_physician_name = COALESCE(EXCLUDED.referring_physician_name, t.referring_physician_name),
      study_id = COALESCE(EXCLUDED.study_id, t.study_id),
      study_description = COALESCE(EXCLUDED.study_description, t.study_description),
      timezone_offset = COALESCE(EXCLUDED.timezone_offset, t.timezone_offset),
      specific_character_set = COALESCE(EXCLUDED.specific_character_set, t.specific_character_set),
      updated_at = now()
  ), new_series AS (
    INSERT INTO dicom_series AS t (series_uid, study_uid, modality, series_number, series_description, series_date, series_time,
        body_part_examined, manufacturer, manufacturer_model_name, performed_procedure_step_start_date, revision, last_instance_at)
    SELECT r.series_uid, r.study_uid, r.modality, r.series_number, r.series_description, r.series_date, r.series_time,
        r.body_part_examined, r.manufacturer, r.manufacturer_model_name, r.performed_procedure_step_start_date, 1, now()
      FROM jsonb_populate_recordset(NULL::dicom_series, series) AS r
    ON CONFLICT (series_uid) DO UPDATE SET
      modality = COALESCE(EXCLUDED.modality, t.modality),
      series_number = COALESCE(EXCLUDED.series_number, t.series_number),
      series_description = COALESCE(EXCLUDED.series_description, t.series_description),
      series_date = COALESCE(EXCLUDED.series_date, t.series_date),
      series_time = COALESCE(EXCLUDED.series_time, t.series_time),
      body_part_examined = COALESCE(EXCLUDED.body_part_examined, t.body_part_examined),
      manufacturer = COALESCE(EXCLUDED.manufacturer, t.manufacturer),
      manufacturer_model_name = COALESCE(EXCLUDED.manufacturer_model_name, t.manufacturer_model_name),
      performed_procedure_step_start_date = COALESCE(EXCLUDED.performed_procedure_step_start_date, t.performed_procedure_step_start_date),
      revision = t.revision + 1,
      last_instance_at = now()
  ), batch AS (
    SELECT * FROM jsonb_populate_recordset(NULL::dicom_instances, instances)
  ), old AS (
    SELECT i.sop_instance_uid, i.path, i.series_uid FROM dicom_instances AS i
     WHERE i.sop_instance_uid IN (SELECT b.sop_instance_uid FROM batch AS b)
     ORDER BY i.sop_instance_uid FOR UPDATE
  ), lost AS (
    UPDATE dicom_series AS t SET revision = t.revision + 1
     WHERE t.series_uid IN (SELECT o.series_uid FROM old AS o JOIN batch AS b ON b.sop_instance_uid = o.sop_instance_uid
                             WHERE o.series_uid <> b.series_uid)
       AND t.series_uid NOT IN (SELECT r.series_uid FROM jsonb_populate_recordset(NULL::dicom_series, series) AS r)
  ), new_instances AS (
    INSERT INTO dicom_instances AS t (sop_instance_uid, series_uid, study_uid, sop_class_uid, transfer_syntax_uid, instance_number,
        rows, columns, bits_allocated, number_of_frames, image_type, has_pixel_data, volume_image, path, size_bytes, received_via,
        calling_aet, remote_address)
    SELECT b.sop_instance_uid, b.series_uid, b.study_uid, b.sop_class_uid, b.transfer_syntax_uid, b.instance_number,
        b.rows, b.columns, b.bits_allocated, b.number_of_frames, b.image_type, b.has_pixel_data, b.volume_image, b.path, b.size_bytes,
        b.received_via, b.calling_aet, b.remote_address
      FROM batch AS b
    ON CONFLICT (sop_instance_uid) DO UPDATE SET
      series_uid = EXCLUDED.series_uid, study_uid = EXCLUDED.study_uid, sop_class_uid = EXCLUDED.sop_class_uid,
      transfer_syntax_uid = EXCLUDED.transfer_syntax_uid, instance_number = EXCLUDED.instance_number, rows = EXCLUDED.rows,
      columns = EXCLUDED.columns, bits_allocated = EXCLUDED.bits_allocated, number_of_frames = EXCLUDED.number_of_frames,
      image_type = EXCLUDED.image_type, has_pixel_data = EXCLUDED.has_pixel_data, volume_image = EXCLUDED.volume_image,
      path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, received_via = EXCLUDED.received_via,
      calling_aet = EXCLUDED.calling_aet, remote_address = EXCLUDED.remote_address, received_at = now()
  )
  SELECT o.sop_instance_uid, o.path FROM old AS o;
END
$$;
