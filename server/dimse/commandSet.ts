/**
 * Encodes a DIMSE command set (PS3.7 §6.3 and Annex E: group 0000, Implicit VR Little Endian, led by
 * CommandGroupLength) and the P-DATA-TF PDU that carries it as one last command fragment (PS3.8 §9.3.5,
 * Annex E.2).
 *
 * Written here for the responses the SCP sends: dcmjs-dimse builds each one through dcmjs's general
 * data set writer (denaturalize, dictionary look-ups, a growing buffer) and formats a log line even
 * when logging is off, on the thread that also receives the data (docs/performance.md).
 * A command set is a dozen fixed elements, so a table of them is all this needs. Elements missing from
 * the table make `encodeCommandSet` return undefined, and the library then encodes the command itself.
 */

type CommandVr = 'UI' | 'US' | 'LO' | 'AE';

/** The command elements of PS3.7 Table E.1-1 that carry one value, by dcmjs keyword. */
const COMMAND_ELEMENTS: Record<string, { element: number; vr: CommandVr }> = {
  AffectedSOPClassUID: { element: 0x0002, vr: 'UI' },
  RequestedSOPClassUID: { element: 0x0003, vr: 'UI' },
  CommandField: { element: 0x0100, vr: 'US' },
  MessageID: { element: 0x0110, vr: 'US' },
  MessageIDBeingRespondedTo: { element: 0x0120, vr: 'US' },
  MoveDestination: { element: 0x0600, vr: 'AE' },
  Priority: { element: 0x0700, vr: 'US' },
  CommandDataSetType: { element: 0x0800, vr: 'US' },
  Status: { element: 0x0900, vr: 'US' },
  ErrorComment: { element: 0x0902, vr: 'LO' },
  ErrorID: { element: 0x0903, vr: 'US' },
  AffectedSOPInstanceUID: { element: 0x1000, vr: 'UI' },
  RequestedSOPInstanceUID: { element: 0x1001, vr: 'UI' },
  EventTypeID: { element: 0x1002, vr: 'US' },
  ActionTypeID: { element: 0x1008, vr: 'US' },
  NumberOfRemainingSuboperations: { element: 0x1020, vr: 'US' },
  NumberOfCompletedSuboperations: { element: 0x1021, vr: 'US' },
  NumberOfFailedSuboperations: { element: 0x1022, vr: 'US' },
  NumberOfWarningSuboperations: { element: 0x1023, vr: 'US' },
  MoveOriginatorApplicationEntityTitle: { element: 0x1030, vr: 'AE' },
  MoveOriginatorMessageID: { element: 0x1031, vr: 'US' },
};

/** One encoded element: tag (group 0000), 4-byte length, value. */
function element(tag: number, value: Buffer): Buffer {
  const out = Buffer.alloc(8 + value.length);
  out.writeUInt16LE(0x0000, 0);
  out.writeUInt16LE(tag, 2);
  out.writeUInt32LE(value.length, 4);
  value.copy(out, 8);
  return out;
}

function encodeValue(vr: CommandVr, value: unknown): Buffer | undefined {
  if (vr === 'US') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) return undefined;
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    return b;
  }
  if (typeof value !== 'string') return undefined;
  // PS3.5 §6.2: values of even length; UI is padded with NUL, the text VRs with a space.
  const text = Buffer.from(value, vr === 'UI' ? 'latin1' : 'utf8');
  if (text.length % 2 === 0) return text;
  return Buffer.concat([text, Buffer.from(vr === 'UI' ? [0x00] : [0x20])]);
}

/**
 * The command set for `elements` (dcmjs keywords to values, as a dcmjs-dimse command's data set holds
 * them) in tag order behind its CommandGroupLength, or undefined when an element is not one this
 * encodes (the caller then leaves the command to the library). Empty values are omitted, as dcmjs does.
 */
export function encodeCommandSet(elements: Record<string, unknown>): Buffer | undefined {
  const encoded: Array<{ element: number; bytes: Buffer }> = [];
  for (const [keyword, value] of Object.entries(elements)) {
    if (keyword === 'CommandGroupLength') continue;
    if (value === undefined || value === null || value === '') continue;
    const def = COMMAND_ELEMENTS[keyword];
    if (!def) return undefined;
    const bytes = encodeValue(def.vr, value);
    if (!bytes) return undefined;
    encoded.push({ element: def.element, bytes: element(def.element, bytes) });
  }
  encoded.sort((a, b) => a.element - b.element);
  const body = Buffer.concat(encoded.map((e) => e.bytes));
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([element(0x0000, groupLength), body]);
}

/** PS3.8 Annex E.2: message control header bit 0 = command, bit 1 = last fragment. */
const LAST_COMMAND_FRAGMENT = 0x03;

/**
 * A P-DATA-TF PDU carrying `command` as one PDV, the command's only and last fragment, on presentation
 * context `contextId`.
 */
export function commandPDataTf(contextId: number, command: Buffer): Buffer {
  const pdvLength = 2 + command.length;
  const pdu = Buffer.alloc(6 + 4 + pdvLength);
  pdu.writeUInt8(0x04, 0); // P-DATA-TF
  pdu.writeUInt32BE(4 + pdvLength, 2);
  pdu.writeUInt32BE(pdvLength, 6);
  pdu.writeUInt8(contextId, 10);
  pdu.writeUInt8(LAST_COMMAND_FRAGMENT, 11);
  command.copy(pdu, 12);
  return pdu;
}
