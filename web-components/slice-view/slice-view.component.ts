import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { property, query } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import type { ResultJson } from '../shared/api.ts';
import { CT_WINDOWS, NiivueController, type CtWindow, type SliceLabel } from './niivue.controller.ts';
import styles from './slice-view.styles.ts';

export type { SliceLabel } from './niivue.controller.ts';

export type AgSlicesLoadEvent = CustomEvent<{ labels: number }>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-slices-load': AgSlicesLoadEvent;
  }
}

/** The input volume and label map of a result (`<name>.nii.gz`, `<name>_seg.nii.gz`), if it has both. */
export function sliceFiles(result: ResultJson): { volume: string; labels: string } | undefined {
  const labels = result.files.find((f) => f.name.endsWith('_seg.nii.gz'));
  const volume = result.files.find((f) => f.name.endsWith('.nii.gz') && !f.name.endsWith('_seg.nii.gz'));
  return labels && volume ? { volume: volume.url, labels: labels.url } : undefined;
}

/**
 * @summary A 2D check of a result before printing: the scan in axial, coronal and sagittal slices with the label
 * map over it (NiiVue), a CT window preset, and the structures shown as the structure list says.
 * @event ag-slices-load - the slices are on screen (detail.labels: labels coloured).
 */
export class AgSliceView extends LitElement {
  static override styles = [baseStyles, styles];

  @property({ attribute: false }) result: ResultJson | undefined;
  /** Which labels to draw and in what colour; shared with the 3D view's structure list. */
  @property({ attribute: false }) labels: SliceLabel[] = [];

  @query('canvas') private canvas!: HTMLCanvasElement;

  readonly #nv = new NiivueController(this);

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('result')) void this.#open();
    else if (changed.has('labels')) this.#nv.setLabels(this.labels);
  }

  async #open(): Promise<void> {
    const files = this.result ? sliceFiles(this.result) : undefined;
    if (!files) {
      this.#nv.release();
      return;
    }
    await this.#nv.open(this.canvas, files.volume, files.labels, this.labels);
    if (this.#nv.phase === 'loaded') {
      if (this.result?.segments.length) this.#nv.setWindow('soft tissue');
      this.dispatchEvent(
        new CustomEvent('ag-slices-load', {
          detail: { labels: this.labels.length },
          bubbles: true,
          composed: true,
        }),
      );
    }
  }

  override render() {
    const files = this.result ? sliceFiles(this.result) : undefined;
    const nv = this.#nv;
    return html`
      <div class="toolbar">
        <label
          >Window
          <select
            .value=${nv.window}
            ?disabled=${nv.phase !== 'loaded'}
            @change=${(e: Event) => nv.setWindow((e.target as HTMLSelectElement).value as CtWindow | 'auto')}
          >
            <option value="auto">Automatic</option>
            ${Object.entries(CT_WINDOWS).map(
              ([name, w]) => html`<option value=${name}>CT ${name} (W ${w.width} / L ${w.level})</option>`,
            )}
          </select>
        </label>
      </div>
      <div class="stage">
        <canvas aria-label="Axial, coronal and sagittal slices of the scan with the label map over them"></canvas>
        ${
          !files && this.result
            ? html`<div class="overlay" role="status">This result has no input volume and label map to show.</div>`
            : nothing
        }
        ${nv.phase === 'loading' ? html`<div class="overlay" role="status">Loading the slices…</div>` : nothing}
        ${nv.phase === 'error' ? html`<div class="overlay error" role="alert">${nv.error}</div>` : nothing}
      </div>
      <p class="hint">Click to move the crosshair; scroll to page through slices.</p>
    `;
  }
}
