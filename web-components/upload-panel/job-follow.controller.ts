import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { LiveJob } from '../shared/api.ts';

/** How many job states are remembered: enough for the jobs of the uploads on screen. */
const REMEMBERED = 500;

/**
 * Lets the upload list follow the jobs its files became (queued → processing → done/failed). The live queue on the
 * same page already holds the one Server-Sent Events connection and announces every job change (`ag-job-change`);
 * this listens to those instead of opening a second connection, and remembers the latest state of each job, so a job
 * whose first change arrived before the upload learnt its id still shows where it is.
 */
export class JobFollowController implements ReactiveController {
  readonly #host: ReactiveControllerHost;
  readonly #jobs = new Map<string, LiveJob>();
  readonly #onChange = (event: Event): void => {
    const job = (event as CustomEvent<{ job?: LiveJob }>).detail?.job;
    if (!job?.id) return;
    this.#jobs.delete(job.id);
    this.#jobs.set(job.id, job);
    if (this.#jobs.size > REMEMBERED) this.#jobs.delete(this.#jobs.keys().next().value as string);
    this.#host.requestUpdate();
  };

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {
    window.addEventListener('ag-job-change', this.#onChange);
  }

  hostDisconnected(): void {
    window.removeEventListener('ag-job-change', this.#onChange);
  }

  job(id: string | undefined): LiveJob | undefined {
    return id === undefined ? undefined : this.#jobs.get(id);
  }
}
