/**
 * Which result files hold patient data: the DICOM SEG carries the source's patient name, ID and birth date, and the
 * input volume is the scan itself (a face can be rebuilt from a head CT). Models, label maps and segment notes are
 * derived geometry and names of structures. A download link leaves these out unless its creator ticks them.
 */
export function holdsPatientData(name: string): boolean {
  const lower = name.toLowerCase();
  if (lower.endsWith('.dcm')) return true;
  if (lower.endsWith('_seg.nii.gz') || lower.endsWith('_seg.nii') || lower.endsWith('_seg.nrrd')) return false;
  return lower.endsWith('.nii.gz') || lower.endsWith('.nii') || lower.endsWith('.nrrd');
}
