import { AgJobQueue } from './job-queue.component.ts';

export { AgJobQueue };
export type { AgJobChangeEvent } from './job-queue.component.ts';

customElements.define('ag-job-queue', AgJobQueue);

declare global {
  interface HTMLElementTagNameMap {
    'ag-job-queue': AgJobQueue;
  }
}
