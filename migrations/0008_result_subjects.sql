-- Whose scan a result is: patient name and ID, study date, modality and series description, copied from the DICOM
-- index when the result is recorded (the index rows of its inputs may be deleted afterwards). The signed-in pages
-- show, search and sort by them; they are never logged, never on the phone page and not in download names.
ALTER TABLE results
  ADD COLUMN patient_name       text,
  ADD COLUMN patient_id         text,
  ADD COLUMN study_date         text,
  ADD COLUMN modality           text,
  ADD COLUMN series_description text;

-- Results recorded before this migration: from the index where their series is still there.
UPDATE results AS r
   SET patient_name = st.patient_name, patient_id = st.patient_id, study_date = st.study_date,
       modality = se.modality, series_description = se.series_description
  FROM dicom_series AS se JOIN dicom_studies AS st ON st.study_uid = se.study_uid
 WHERE se.series_uid = r.source->>'seriesInstanceUid';

UPDATE results SET series_description = source->>'seriesDescription'
 WHERE series_description IS NULL AND source->>'seriesDescription' IS NOT NULL;

-- A series whose blank UIDs were generated from its files' content (browser uploads of anonymised folders): its
-- result says so.
ALTER TABLE dicom_series ADD COLUMN uids_generated boolean NOT NULL DEFAULT false;
