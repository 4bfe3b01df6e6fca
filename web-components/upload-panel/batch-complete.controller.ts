import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { postJson, type QueuedNow } from '../shared/api.ts';
import { plural } from '../shared/format.ts';

/** What the controller needs to know of a file of the list. */
export interface BatchFile {
  group: number;
  /** Still waiting, uploading or being checked. */
  open: boolean;
  accepted: boolean;
  /** Series its images went into. */
  series: string[];
}

/**
 * A drop or pick (a batch) whose every file has an answer is whole: its series are queued now
 * (POST /api/uploads/complete) instead of after the quiet period, `note` says so, and `onJobs` gets the job of each
 * series so the rows can follow them. If the request fails, the quiet period still queues them.
 */
export class BatchCompleteController implements ReactiveController {
  note = '';
  readonly #host: ReactiveControllerHost;
  readonly #onJobs: (group: number, jobOf: Map<string, string>) => void;
  readonly #completed = new Set<number>();

  constructor(host: ReactiveControllerHost, onJobs: (group: number, jobOf: Map<string, string>) => void) {
    this.#host = host;
    this.#onJobs = onJobs;
    host.addController(this);
  }

  hostConnected(): void {}

  clearNote(): void {
    this.note = '';
    this.#host.requestUpdate();
  }

  /** Call whenever files get answers: completes every batch that has just become whole. */
  check(files: readonly BatchFile[]): void {
    const open = new Set(files.filter((f) => f.open).map((f) => f.group));
    for (const group of new Set(files.map((f) => f.group))) {
      if (open.has(group) || this.#completed.has(group)) continue;
      this.#completed.add(group);
      const batch = files.filter((f) => f.group === group);
      const series = [...new Set(batch.flatMap((f) => f.series))];
      if (series.length > 0) void this.#queue(group, batch.length, series);
      else if (batch.some((f) => f.accepted)) this.#say(`All ${plural(batch.length, 'file')} of the batch answered.`);
    }
  }

  async #queue(group: number, files: number, series: string[]): Promise<void> {
    this.#say(`All ${plural(files, 'file')} sent; queueing ${plural(series.length, 'series', 'series')}…`);
    try {
      const answer = await postJson<{ series: QueuedNow[] }>('/api/uploads/complete', { series });
      const jobOf = new Map(answer.series.filter((s) => s.jobId).map((s) => [s.seriesInstanceUid, s.jobId as string]));
      this.#onJobs(group, jobOf);
      const other = answer.series.find((s) => !s.jobId)?.reason;
      this.#say(
        `All ${plural(files, 'file')} sent · ${plural(jobOf.size, 'series', 'series')} queued` +
          (other ? ` · not queued: ${other}` : ''),
      );
    } catch (error) {
      this.#say(
        `All ${plural(files, 'file')} sent; the series will be queued after a short wait (${(error as Error).message}).`,
      );
    }
  }

  #say(note: string): void {
    this.note = note;
    this.#host.requestUpdate();
  }
}
