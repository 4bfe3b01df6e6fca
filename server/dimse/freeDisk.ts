import type { Storage } from '../storage/storage.ts';

export interface FreeDiskProbe {
  refresh(): Promise<number>;
  lastMb(): number | undefined;
}

/**
 * Free space on DATA_DIR's file system, re-read at most once a second in the background. The SCP
 * consults it before every instance to refuse early (without writing) when the disk is low; at
 * hundreds of instances per second a statfs each time would be wasted work.
 */
export function freeDiskProbe(storage: Pick<Storage, 'freeSpaceMb'>, maxAgeMs = 1000): FreeDiskProbe {
  let last: { at: number; mb: number } | undefined;
  let pending: Promise<number> | undefined;
  return {
    refresh() {
      if (last && Date.now() - last.at < maxAgeMs) return Promise.resolve(last.mb);
      pending ??= storage
        .freeSpaceMb()
        .then((mb) => {
          last = { at: Date.now(), mb };
          return mb;
        })
        .finally(() => {
          pending = undefined;
        });
      return pending;
    },
    // An older reading is not trusted to refuse: after an idle pause the disk may have been cleared
    // (ingest then checks exactly before keeping the file).
    lastMb: () => (last && Date.now() - last.at <= maxAgeMs ? last.mb : undefined),
  };
}
