import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';

/**
 * The data set must be the instance the command names (PS3.4 B.2.3: Affected SOP Class and Instance UID): one that
 * says otherwise would be stored under UIDs the sender never asked for, its file meta contradicting it. Refused
 * with 0xA900 (Data Set does not match SOP Class), as DCMTK's storescp does for either UID.
 */
export function commandCheck(
  sopClassUid: string,
  sopInstanceUid: string,
): (header: { sopClassUid: string; sopInstanceUid: string }) => void {
  const clean = (uid: string): string => uid.replace(/\0+$/, '').trim();
  sopClassUid = clean(sopClassUid);
  sopInstanceUid = clean(sopInstanceUid);
  return (header) => {
    const uids = { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid };
    if (header.sopClassUid !== sopClassUid) {
      throw new InstanceRejectedError(
        FailureReason.DataSetDoesNotMatchSopClass,
        `SOP Class UID in data set differs from the command: data set (0008,0016) ${header.sopClassUid}, Affected SOP Class UID ${sopClassUid}`,
        uids,
      );
    }
    if (header.sopInstanceUid !== sopInstanceUid) {
      throw new InstanceRejectedError(
        FailureReason.DataSetDoesNotMatchSopClass,
        `SOP Instance UID in data set differs from the command: data set (0008,0018) ${header.sopInstanceUid}, Affected SOP Instance UID ${sopInstanceUid}`,
        uids,
      );
    }
  };
}
