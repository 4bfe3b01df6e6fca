-- Index of every stored DICOM instance, by study / series / instance, for series grouping, QIDO-RS
-- search and WADO-RS retrieve. The files themselves live under DATA_DIR/dicom/<study>/<series>/<sop>.dcm.
-- Patient attributes are kept only so QIDO can match and return them: they are never logged.

CREATE TABLE dicom_studies (
  study_uid                text PRIMARY KEY,
  patient_name             text,
  patient_id               text,
  patient_birth_date       text,
  patient_sex              text,
  study_date               text,
  study_time               text,
  accession_number         text,
  referring_physician_name text,
  study_id                 text,
  study_description        text,
  timezone_offset          text,
  specific_character_set   text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dicom_studies_patient_id ON dicom_studies (patient_id);
CREATE INDEX dicom_studies_study_date ON dicom_studies (study_date);

CREATE TABLE dicom_series (
  series_uid          text PRIMARY KEY,
  study_uid           text NOT NULL REFERENCES dicom_studies (study_uid) ON DELETE CASCADE,
  modality            text,
  series_number       integer,
  series_description  text,
  series_date         text,
  series_time         text,
  body_part_examined  text,
  manufacturer        text,
  manufacturer_model_name text,
  performed_procedure_step_start_date text,
  -- Bumped by every stored (or replaced) instance; a process job is made for a revision only once.
  revision            integer NOT NULL DEFAULT 0,
  processed_revision  integer NOT NULL DEFAULT 0,
  last_process_job_id uuid,
  -- Why the last quiet period did not produce a job (non-image series, localizer only, ...).
  skipped_reason      text,
  last_instance_at    timestamptz NOT NULL DEFAULT now(),
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dicom_series_study ON dicom_series (study_uid);

CREATE TABLE dicom_instances (
  sop_instance_uid    text PRIMARY KEY,
  series_uid          text NOT NULL REFERENCES dicom_series (series_uid) ON DELETE CASCADE,
  study_uid           text NOT NULL REFERENCES dicom_studies (study_uid) ON DELETE CASCADE,
  sop_class_uid       text NOT NULL,
  transfer_syntax_uid text NOT NULL,
  instance_number     integer,
  rows                integer,
  columns             integer,
  bits_allocated      integer,
  number_of_frames    integer,
  image_type          text[] NOT NULL DEFAULT '{}',
  has_pixel_data      boolean NOT NULL,
  -- Whether this instance can feed a volume (image SOP class with pixel data in a decodable syntax).
  volume_image        boolean NOT NULL,
  -- Relative to DATA_DIR.
  path                text NOT NULL,
  size_bytes          bigint NOT NULL,
  received_via        text NOT NULL CHECK (received_via IN ('stow', 'upload', 'dimse')),
  calling_aet         text,
  remote_address      text,
  received_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dicom_instances_series ON dicom_instances (series_uid, instance_number);
CREATE INDEX dicom_instances_study ON dicom_instances (study_uid);
