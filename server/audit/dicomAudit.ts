import type { AuditRow } from './audit.ts';

/**
 * Our audit rows in the shape of DICOM audit messages (PS3.15 A.5, the schema of A.5.1), so a hospital's audit
 * record repository (IHE ATNA) can take them: the event (EventID and EventActionCode), the requestor and this
 * server as active participants, and the studies (and series) concerned as participant objects, by UID only.
 */

interface Code {
  code: string;
  meaning: string;
}

interface DicomEvent {
  id: Code;
  /** C create, R read, U update, D delete, E execute (PS3.15 A.5.1). */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  /** Whether the requestor received the data (Destination) or sent it (Source). */
  requestorRole?: Code;
}

const DESTINATION: Code = { code: '110152', meaning: 'Destination Role ID' };
const SOURCE: Code = { code: '110153', meaning: 'Source Role ID' };

/** Which DICOM audit event each of our events is (PS3.15 A.5.3); events not listed here are ours alone. */
export const DICOM_AUDIT_EVENTS: Readonly<Record<string, DicomEvent>> = {
  'dicomweb-query': { id: { code: '110112', meaning: 'Query' }, action: 'E' },
  'pacs-query': { id: { code: '110112', meaning: 'Query' }, action: 'E' },
  'dicomweb-retrieve': {
    id: { code: '110102', meaning: 'Begin Transferring DICOM Instances' },
    action: 'E',
    requestorRole: DESTINATION,
  },
  'pacs-retrieve': {
    id: { code: '110102', meaning: 'Begin Transferring DICOM Instances' },
    action: 'E',
    requestorRole: DESTINATION,
  },
  'dicomweb-access': { id: { code: '110103', meaning: 'DICOM Instances Accessed' }, action: 'R' },
  'viewer-open': { id: { code: '110103', meaning: 'DICOM Instances Accessed' }, action: 'R' },
  // Job and result lists that carry patient names and IDs.
  'patient-data-read': { id: { code: '110110', meaning: 'Patient Record' }, action: 'R' },
  'download-file': { id: { code: '110106', meaning: 'Export' }, action: 'R', requestorRole: DESTINATION },
  'download-zip': { id: { code: '110106', meaning: 'Export' }, action: 'R', requestorRole: DESTINATION },
  'download-link-file': { id: { code: '110106', meaning: 'Export' }, action: 'R', requestorRole: DESTINATION },
  stow: { id: { code: '110104', meaning: 'DICOM Instances Transferred' }, action: 'C', requestorRole: SOURCE },
  'dimse-store': { id: { code: '110104', meaning: 'DICOM Instances Transferred' }, action: 'C', requestorRole: SOURCE },
  upload: { id: { code: '110104', meaning: 'DICOM Instances Transferred' }, action: 'C', requestorRole: SOURCE },
  login: { id: { code: '110114', meaning: 'User Authentication' }, action: 'E' },
  logout: { id: { code: '110114', meaning: 'User Authentication' }, action: 'E' },
  'access-denied': { id: { code: '110113', meaning: 'Security Alert' }, action: 'E' },
};

const STUDY_UID: Code = { code: '110180', meaning: 'Study Instance UID' };
const SOP_CLASS_UID: Code = { code: '110181', meaning: 'SOP Class UID' };
/** The query's information model: Study Root Query/Retrieve Information Model - FIND. */
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function codeElement(name: string, c: Code): string {
  return `<${name} csd-code="${c.code}" codeSystemName="DCM" originalText="${xml(c.meaning)}"/>`;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** EventOutcomeIndicator: 0 success, 4 minor failure (the request was refused), 8 serious failure (ours). */
function outcomeIndicator(row: AuditRow): number {
  if (row.outcome === 'success') return 0;
  const status = Number(row.details.status);
  return Number.isFinite(status) && status >= 500 ? 8 : 4;
}

/** One DICOM audit message (XML) for one audit row; undefined for events that have no DICOM counterpart. */
export function dicomAuditMessage(row: AuditRow, auditSourceId: string): string | undefined {
  const event = DICOM_AUDIT_EVENTS[row.event];
  if (!event) return undefined;
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<AuditMessage>'];
  parts.push(
    `  <EventIdentification EventActionCode="${event.action}" EventDateTime="${row.at}" EventOutcomeIndicator="${outcomeIndicator(row)}">`,
    `    ${codeElement('EventID', event.id)}`,
    '  </EventIdentification>',
  );
  const address = row.address ?? '';
  // NetworkAccessPointTypeCode 2 is an IP address.
  parts.push(
    `  <ActiveParticipant UserID="${xml(row.actor ?? 'unknown')}" UserIsRequestor="true"${address ? ` NetworkAccessPointID="${xml(address)}" NetworkAccessPointTypeCode="2"` : ''}>`,
    ...(event.requestorRole ? [`    ${codeElement('RoleIDCode', event.requestorRole)}`] : []),
    '  </ActiveParticipant>',
    `  <ActiveParticipant UserID="${xml(auditSourceId)}" UserIsRequestor="false"${event.requestorRole ? '>' : '/>'}`,
    ...(event.requestorRole
      ? [
          `    ${codeElement('RoleIDCode', event.requestorRole === DESTINATION ? SOURCE : DESTINATION)}`,
          '  </ActiveParticipant>',
        ]
      : []),
    `  <AuditSourceIdentification AuditSourceID="${xml(auditSourceId)}"/>`,
  );
  if (event.id.code === '110112') {
    // The query itself (PS3.15 A.5.3.12): which attributes were matched on; their values may be names, so they
    // were never kept.
    const keys = strings(row.details.queryKeys);
    parts.push(
      `  <ParticipantObjectIdentification ParticipantObjectID="${STUDY_ROOT_FIND}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">`,
      `    ${codeElement('ParticipantObjectIDTypeCode', SOP_CLASS_UID)}`,
      ...keys.map((k) => `    <ParticipantObjectDetail type="QueryKey" value="${Buffer.from(k).toString('base64')}"/>`),
      '  </ParticipantObjectIdentification>',
    );
  }
  const series = strings(row.details.series);
  for (const study of strings(row.details.studies)) {
    parts.push(
      `  <ParticipantObjectIdentification ParticipantObjectID="${xml(study)}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">`,
      `    ${codeElement('ParticipantObjectIDTypeCode', STUDY_UID)}`,
    );
    // Series and counts as type-value details (values are base64Binary in the schema).
    const detail = (type: string, value: string): string =>
      `    <ParticipantObjectDetail type="${type}" value="${Buffer.from(value).toString('base64')}"/>`;
    for (const s of series) parts.push(detail('SeriesInstanceUID', s));
    const instances = Number(row.details.instances);
    if (row.details.instances !== undefined && Number.isFinite(instances)) {
      parts.push(detail('NumberOfInstances', String(instances)));
    }
    parts.push('  </ParticipantObjectIdentification>');
  }
  parts.push('</AuditMessage>');
  return `${parts.join('\n')}\n`;
}
