-- An instance sent again under its SOP Instance UID keeps its first copy unless OVERWRITE_INSTANCES is set, as
-- Orthanc's OverwriteInstances does (server/ingest/storeInstance.ts). This overload of dicom_index_instances
-- (migration 0006) takes the setting: without it, an instance already stored under another key (another series or
-- study) is not moved, its new study and series rows are not written and no series gets a new revision; it is
-- returned with kept_previous, and the caller removes the new file. A copy under the same key never reaches the
-- index without overwriting (the caller finds the stored file first).
CREATE FUNCTION dicom_index_instances(studies jsonb, series jsonb, instances jsonb, overwrite boolean)
RETURNS TABLE (sop_uid text, previous_path text, kept_previous boolean)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  WITH batch AS (
    SELECT * FROM jsonb_populate_recordset(NULL::dicom_instances, instances)
  ), old AS (
    SELECT i.sop_instance_uid, i.path, i.series_uid FROM dicom_instances AS i
     WHERE i.sop_instance_uid IN (SELECT b.sop_instance_uid FROM batch AS b)
     ORDER BY i.sop_instance_uid FOR UPDATE
  ), kept AS (
    SELECT b.sop_instance_uid FROM batch AS b JOIN old AS o ON o.sop_instance_uid = b.sop_instance_uid
     WHERE NOT overwrite AND o.path <> b.path
  ), written AS (
    SELECT b.* FROM batch AS b WHERE b.sop_instance_uid NOT IN (SELECT k.sop_instance_uid FROM kept AS k)
  ), new_studies AS (
    INSERT INTO dicom_studies AS t (study_uid, patient_name, patient_id, patient_birth_date, patient_sex, study_date, study_time,
        accession_number, referring_physician_name, study_id, study_description, timezone_offset, specific_character_set)
    SELECT r.study_uid, r.patient_name, r.patient_id, r.patient_birth_date, r.patient_sex, r.study_date, r.study_time,
        r.accession_number, r.referring_physician_name, r.study_id, r.study_description, r.timezone_offset, r.specific_character_set
      FROM jsonb_populate_recordset(NULL::dicom_studies, studies) AS r
     WHERE r.study_uid IN (SELECT w.study_uid FROM written AS w)
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
     WHERE r.series_uid IN (SELECT w.series_uid FROM written AS w)
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
  ), lost AS (
    UPDATE dicom_series AS t SET revision = t.revision + 1
     WHERE t.series_uid IN (SELECT o.series_uid FROM old AS o JOIN written AS w ON w.sop_instance_uid = o.sop_instance_uid
                             WHERE o.series_uid <> w.series_uid)
       AND t.series_uid NOT IN (SELECT w.series_uid FROM written AS w)
  ), new_instances AS (
    INSERT INTO dicom_instances AS t (sop_instance_uid, series_uid, study_uid, sop_class_uid, transfer_syntax_uid, instance_number,
        rows, columns, bits_allocated, number_of_frames, image_type, has_pixel_data, volume_image, path, size_bytes, received_via,
        calling_aet, remote_address)
    SELECT b.sop_instance_uid, b.series_uid, b.study_uid, b.sop_class_uid, b.transfer_syntax_uid, b.instance_number,
        b.rows, b.columns, b.bits_allocated, b.number_of_frames, b.image_type, b.has_pixel_data, b.volume_image, b.path, b.size_bytes,
        b.received_via, b.calling_aet, b.remote_address
      FROM written AS b
    ON CONFLICT (sop_instance_uid) DO UPDATE SET
      series_uid = EXCLUDED.series_uid, study_uid = EXCLUDED.study_uid, sop_class_uid = EXCLUDED.sop_class_uid,
      transfer_syntax_uid = EXCLUDED.transfer_syntax_uid, instance_number = EXCLUDED.instance_number, rows = EXCLUDED.rows,
      columns = EXCLUDED.columns, bits_allocated = EXCLUDED.bits_allocated, number_of_frames = EXCLUDED.number_of_frames,
      image_type = EXCLUDED.image_type, has_pixel_data = EXCLUDED.has_pixel_data, volume_image = EXCLUDED.volume_image,
      path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, received_via = EXCLUDED.received_via,
      calling_aet = EXCLUDED.calling_aet, remote_address = EXCLUDED.remote_address, received_at = now()
  )
  SELECT o.sop_instance_uid, o.path, o.sop_instance_uid IN (SELECT k.sop_instance_uid FROM kept AS k) FROM old AS o;
END
$$;

-- What each series' last process job was made from: a digest of its images' SOP Instance UIDs and bytes. A series
-- sent again unchanged (its inputs deleted after processing, or kept) then makes no second job while that job's
-- result stands (server/series/processJobForSeries.ts). Kept after the series' own rows are gone.
CREATE TABLE series_digests (
  series_uid  text PRIMARY KEY,
  digest      text NOT NULL,
  job_id      uuid NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
