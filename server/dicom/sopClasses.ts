/**
 * SOP classes that hold cross-sectional images a series volume can be built from. Everything else
 * (SR, RTSTRUCT, SEG, PR, KO, waveforms, secondary captures, dose reports, ...) is stored and searchable
 * but does not start a processing job: there is no anatomy volume to segment in it.
 */
export const VOLUME_IMAGE_SOP_CLASSES: ReadonlySet<string> = new Set([
  '1.2.840.10008.5.1.4.1.1.2', // CT Image
  '1.2.840.10008.5.1.4.1.1.2.1', // Enhanced CT Image
  '1.2.840.10008.5.1.4.1.1.2.2', // Legacy Converted Enhanced CT Image
  '1.2.840.10008.5.1.4.1.1.4', // MR Image
  '1.2.840.10008.5.1.4.1.1.4.1', // Enhanced MR Image
  '1.2.840.10008.5.1.4.1.1.4.3', // Enhanced MR Color Image
  '1.2.840.10008.5.1.4.1.1.4.4', // Legacy Converted Enhanced MR Image
  '1.2.840.10008.5.1.4.1.1.128', // PET Image
  '1.2.840.10008.5.1.4.1.1.130', // Enhanced PET Image
  '1.2.840.10008.5.1.4.1.1.128.1', // Legacy Converted Enhanced PET Image
  '1.2.840.10008.5.1.4.1.1.20', // NM Image
  '1.2.840.10008.5.1.4.1.1.13.1.1', // X-Ray 3D Angiographic Image
  '1.2.840.10008.5.1.4.1.1.13.1.2', // X-Ray 3D Craniofacial Image (CBCT)
]);

export const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

export function isVolumeImageSopClass(uid: string): boolean {
  return VOLUME_IMAGE_SOP_CLASSES.has(uid);
}
