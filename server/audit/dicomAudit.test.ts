import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditRow } from './audit.ts';
import { dicomAuditMessage } from './dicomAudit.ts';

const row = (over: Partial<AuditRow>): AuditRow => ({
  id: 1,
  at: '2026-01-02T03:04:05.000Z',
  event: 'dicomweb-retrieve',
  outcome: 'success',
  actor: 'user:alice',
  address: '10.0.0.7',
  target: '1.2.3',
  details: {},
  ...over,
});

test('a retrieve is Begin Transferring DICOM Instances, with the requestor as destination and the study by UID', () => {
  const xml = dicomAuditMessage(
    row({ details: { what: 'instances', studies: ['1.2.3'], series: ['1.2.3.4'], instances: 12 } }),
    'anatomy-gateway',
  );
  assert.ok(xml);
  assert.match(
    xml,
    /<EventIdentification EventActionCode="E" EventDateTime="2026-01-02T03:04:05.000Z" EventOutcomeIndicator="0">/,
  );
  assert.match(
    xml,
    /<EventID csd-code="110102" codeSystemName="DCM" originalText="Begin Transferring DICOM Instances"\/>/,
  );
  assert.match(
    xml,
    /UserID="user:alice" UserIsRequestor="true" NetworkAccessPointID="10.0.0.7" NetworkAccessPointTypeCode="2">\s*<RoleIDCode csd-code="110152"/,
  );
  assert.match(
    xml,
    /<ParticipantObjectIdentification ParticipantObjectID="1.2.3" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">\s*<ParticipantObjectIDTypeCode csd-code="110180"/,
  );
  assert.ok(xml.includes(`value="${Buffer.from('1.2.3.4').toString('base64')}"`), 'the series');
  assert.ok(xml.includes(`type="NumberOfInstances" value="${Buffer.from('12').toString('base64')}"`));
});

test('a query is Query (110112) with the information model and the searched attribute names; a refusal is a minor failure', () => {
  const xml = dicomAuditMessage(
    row({ event: 'dicomweb-query', outcome: 'failure', details: { queryKeys: ['PatientName'], status: 400 } }),
    'gw',
  );
  assert.ok(xml);
  assert.match(xml, /csd-code="110112"/);
  assert.match(xml, /EventOutcomeIndicator="4"/);
  assert.match(xml, /ParticipantObjectID="1.2.840.10008.5.1.4.1.2.2.1"/);
  assert.ok(xml.includes(Buffer.from('PatientName').toString('base64')));
  assert.equal(dicomAuditMessage(row({ event: 'dicomweb-access', details: {} }), 'gw')?.includes('110103'), true);
  assert.equal(dicomAuditMessage(row({ event: 'job-retry' }), 'gw'), undefined, 'ours alone');
  assert.match(dicomAuditMessage(row({ actor: 'a"<b' }), 'gw') ?? '', /UserID="a&#34;&#60;b"/);
});
