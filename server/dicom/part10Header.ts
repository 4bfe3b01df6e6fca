/**
 * The PS3.10 file preamble and File Meta Information group that turn a C-STORE data set (which
 * arrives without them) into a DICOM file. Written before the received bytes so an instance can be
 * streamed to disk as it arrives: the data set itself is copied unchanged, in the accepted transfer
 * syntax (for Deflated that is the deflated stream, exactly as PS3.10 stores it).
 */

/** UID of this implementation (2.25 form, derived from a random UUID). */
export const IMPLEMENTATION_CLASS_UID = '2.25.310584864432233862777417381873145787603';
export const IMPLEMENTATION_VERSION_NAME = 'ANATOMYGW_1';

export interface FileMetaInformation {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** Calling AE title of the association the instance came on (0002,0016). */
  sourceAeTitle?: string;
  /** Our own AE title, as called by the sender (0002,0018). */
  receivingAeTitle?: string;
}

const UID_PATTERN = /^[0-9]+(\.[0-9]+)*$/;

/** Explicit VR little endian element with a 2-byte length (every VR used here but OB). */
function shortElement(element: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0002, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

function uidValue(name: string, uid: string): Buffer {
  if (uid.length === 0 || uid.length > 64 || !UID_PATTERN.test(uid)) {
    throw new Error(`${name} is not a valid UID`);
  }
  // UI values are padded to even length with NUL.
  return Buffer.from(uid.length % 2 === 0 ? uid : `${uid}\0`, 'latin1');
}

function textValue(text: string): Buffer {
  // AE and SH values are padded to even length with a space.
  return Buffer.from(text.length % 2 === 0 ? text : `${text} `, 'latin1');
}

export function part10Header(meta: FileMetaInformation): Buffer {
  const version = Buffer.alloc(12);
  version.writeUInt16LE(0x0002, 0);
  version.writeUInt16LE(0x0001, 2);
  version.write('OB', 4, 'latin1');
  version.writeUInt32LE(2, 8);
  const elements = [
    Buffer.concat([version, Buffer.from([0x00, 0x01])]),
    shortElement(0x0002, 'UI', uidValue('SOP Class UID', meta.sopClassUid)),
    shortElement(0x0003, 'UI', uidValue('SOP Instance UID', meta.sopInstanceUid)),
    shortElement(0x0010, 'UI', uidValue('Transfer Syntax UID', meta.transferSyntaxUid)),
    shortElement(0x0012, 'UI', uidValue('Implementation Class UID', IMPLEMENTATION_CLASS_UID)),
    shortElement(0x0013, 'SH', textValue(IMPLEMENTATION_VERSION_NAME)),
  ];
  if (meta.sourceAeTitle) elements.push(shortElement(0x0016, 'AE', textValue(meta.sourceAeTitle)));
  if (meta.receivingAeTitle) elements.push(shortElement(0x0018, 'AE', textValue(meta.receivingAeTitle)));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(body.length, 8);
  const preamble = Buffer.alloc(132);
  preamble.write('DICM', 128, 'latin1');
  return Buffer.concat([preamble, groupLength, body]);
}
