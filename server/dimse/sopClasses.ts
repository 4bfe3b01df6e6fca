/**
 * Which abstract syntaxes the SCP accepts: Verification, and every storage SOP class. Storage SOP
 * classes are recognised by the UID roots the standard allocates them under (PS3.4 Annex B.5 and
 * PS3.6 Annex A), so classes added to the standard after this was written are accepted too;
 * query/retrieve, worklist, commitment and private classes are not storage and are refused.
 */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

const STORAGE_ROOTS = [
  '1.2.840.10008.5.1.4.1.1.', // image, waveform, SR, presentation state, RT, encapsulated documents, ...
  '1.2.840.10008.5.1.4.34.', // RT beams / brachy delivery instructions, RT ion plans
];
const STORAGE_CLASSES = new Set([
  '1.2.840.10008.5.1.4.38.1', // Hanging Protocol Storage
  '1.2.840.10008.5.1.4.39.1', // Color Palette Storage
  '1.2.840.10008.5.1.4.43.1', // Generic Implant Template Storage
  '1.2.840.10008.5.1.4.44.1', // Implant Assembly Template Storage
  '1.2.840.10008.5.1.4.45.1', // Implant Template Group Storage
]);

export function isStorageSopClass(uid: string): boolean {
  return STORAGE_CLASSES.has(uid) || STORAGE_ROOTS.some((root) => uid.startsWith(root));
}
