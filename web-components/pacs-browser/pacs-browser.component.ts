import { LitElement, css, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { fetchJson, postJson } from '../shared/api.ts';
import type { PublicPacsNode } from '../../server/config/pacsNodes.ts';

interface Study {
  studyInstanceUid: string;
  patientName: string;
  patientId: string;
  studyDate: string;
  accessionNumber: string;
  description: string;
  modalities: string[];
  numberOfSeries: number | null;
  numberOfInstances: number | null;
}

interface Series {
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: number | null;
  description: string;
  numberOfInstances: number | null;
}

const FIELDS = [
  { name: 'patientName', label: 'Patient name', hint: 'start of the name, e.g. DOE' },
  { name: 'patientId', label: 'Patient ID', hint: '' },
  { name: 'accession', label: 'Accession number', hint: '' },
  { name: 'date', label: 'Study date', hint: 'YYYYMMDD or YYYYMMDD-YYYYMMDD' },
  { name: 'modality', label: 'Modality', hint: 'CT, MR…' },
] as const;

const formatDate = (d: string): string => (/^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d);

/**
 * @summary Search a configured PACS node (QIDO-RS through the server), open a study's series and
 * queue the retrieval of a study or one series; retrieved series are processed like any upload.
 */
export class AgPacsBrowser extends LitElement {
  static override styles = css`
    :host {
      display: block;
    }
    form {
      display: grid;
      grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr));
      gap: 0.75rem;
      align-items: end;
    }
    label {
      display: grid;
      gap: 0.25rem;
      font-size: 0.9rem;
    }
    input,
    select {
      font: inherit;
      padding: 0.4rem 0.5rem;
      border: 1px solid #9aa5b1;
      border-radius: 6px;
    }
    button {
      font: inherit;
      padding: 0.45rem 0.9rem;
      border-radius: 6px;
      border: 1px solid #1d3f66;
      background: #fff;
      color: #1d3f66;
      cursor: pointer;
    }
    button.primary {
      background: #1d3f66;
      color: #fff;
    }
    button:disabled {
      opacity: 0.5;
      cursor: default;
    }
    table {
      width: 100%;
      border-collapse: collapse;
      margin-top: 1rem;
    }
    th,
    td {
      text-align: left;
      padding: 0.45rem;
      border-bottom: 1px solid #dde3ea;
      vertical-align: top;
    }
    .series td {
      background: #f6f8fb;
    }
    .state {
      margin: 1rem 0;
    }
    .error {
      color: #a4262c;
    }
    .ok {
      color: #0b6a0b;
    }
    .hint {
      color: #5b6673;
      font-size: 0.8rem;
    }
  `;

  @state() private nodes: PublicPacsNode[] = [];
  @state() private node = '';
  @state() private studies: Study[] | undefined;
  @state() private series = new Map<string, Series[] | 'loading'>();
  @state() private busy = false;
  @state() private error = '';
  @state() private notice = '';

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#loadNodes();
  }

  async #loadNodes(): Promise<void> {
    try {
      this.nodes = (await fetchJson<PublicPacsNode[]>('/api/pacs/nodes')).filter((n) => n.canSearch);
      this.node = this.nodes[0]?.name ?? '';
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  async #search(ev: Event): Promise<void> {
    ev.preventDefault();
    const form = new FormData(ev.target as HTMLFormElement);
    const q = new URLSearchParams();
    for (const f of FIELDS) {
      const v = String(form.get(f.name) ?? '').trim();
      if (v) q.set(f.name, v);
    }
    this.busy = true;
    this.error = '';
    this.notice = '';
    this.series = new Map();
    try {
      this.studies = await fetchJson<Study[]>(`/api/pacs/nodes/${encodeURIComponent(this.node)}/studies?${q}`);
    } catch (e) {
      this.error = (e as Error).message;
      this.studies = undefined;
    } finally {
      this.busy = false;
    }
  }

  async #toggleSeries(study: Study): Promise<void> {
    const next = new Map(this.series);
    if (next.has(study.studyInstanceUid)) {
      next.delete(study.studyInstanceUid);
      this.series = next;
      return;
    }
    next.set(study.studyInstanceUid, 'loading');
    this.series = next;
    try {
      const list = await fetchJson<Series[]>(
        `/api/pacs/nodes/${encodeURIComponent(this.node)}/studies/${encodeURIComponent(study.studyInstanceUid)}/series`,
      );
      this.series = new Map(this.series).set(study.studyInstanceUid, list);
    } catch (e) {
      const m = new Map(this.series);
      m.delete(study.studyInstanceUid);
      this.series = m;
      this.error = (e as Error).message;
    }
  }

  async #retrieve(studyUid: string, seriesUid?: string): Promise<void> {
    this.error = '';
    this.notice = '';
    try {
      await postJson(`/api/pacs/nodes/${encodeURIComponent(this.node)}/retrieve`, {
        studyInstanceUid: studyUid,
        ...(seriesUid ? { seriesInstanceUid: seriesUid } : {}),
      });
      this.notice = `Retrieval queued. Follow it on the Upload & queue page; the 3D models appear on Files when processing is done.`;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  override render() {
    if (this.nodes.length === 0) {
      return html`<div class="state">
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : html`<p>No searchable PACS node is configured. An administrator adds nodes with the PACS_NODES setting.</p>`}
      </div>`;
    }
    return html`
      <form @submit=${(e: Event) => this.#search(e)} aria-label="Search the PACS">
        <label
          >PACS node
          <select
            @change=${(e: Event) => {
              this.node = (e.target as HTMLSelectElement).value;
              this.studies = undefined;
            }}
          >
            ${this.nodes.map((n) => html`<option value=${n.name} ?selected=${n.name === this.node}>${n.name}</option>`)}
          </select>
        </label>
        ${FIELDS.map((f) => html`<label>${f.label}<input name=${f.name} autocomplete="off" placeholder=${f.hint} /></label>`)}
        <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Searching…' : 'Search'}</button>
      </form>
      ${this.error ? html`<p class="state error" role="alert">${this.error}</p>` : nothing}
      ${this.notice ? html`<p class="state ok" role="status">${this.notice}</p>` : nothing}
      ${
        this.studies === undefined
          ? nothing
          : this.studies.length === 0
            ? html`<p class="state">No study matches.</p>`
            : html` <table aria-label="Studies">
                <thead>
                  <tr>
                    <th>Patient</th>
                    <th>Date</th>
                    <th>Description</th>
                    <th>Modalities</th>
                    <th>Accession</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${this.studies.map((s) => {
                    const list = this.series.get(s.studyInstanceUid);
                    return html`
                      <tr>
                        <td>
                          ${s.patientName || '—'}
                          <div class="hint">${s.patientId}</div>
                        </td>
                        <td>${formatDate(s.studyDate)}</td>
                        <td>
                          ${s.description}
                          <div class="hint">
                            ${s.numberOfSeries ?? '?'} series · ${s.numberOfInstances ?? '?'} images
                          </div>
                        </td>
                        <td>${s.modalities.join(', ')}</td>
                        <td>${s.accessionNumber}</td>
                        <td>
                          <button
                            type="button"
                            aria-expanded=${list ? 'true' : 'false'}
                            @click=${() => this.#toggleSeries(s)}
                          >
                            Series
                          </button>
                          <button type="button" @click=${() => this.#retrieve(s.studyInstanceUid)}>
                            Retrieve study
                          </button>
                        </td>
                      </tr>
                      ${
                        list === 'loading'
                          ? html`<tr class="series">
                              <td colspan="6">Loading series…</td>
                            </tr>`
                          : nothing
                      }
                      ${
                        Array.isArray(list)
                          ? list.map(
                              (se) =>
                                html` <tr class="series">
                                  <td></td>
                                  <td>#${se.seriesNumber ?? '?'}</td>
                                  <td>${se.description || '(no description)'}</td>
                                  <td>${se.modality}</td>
                                  <td>${se.numberOfInstances ?? '?'} images</td>
                                  <td>
                                    <button
                                      type="button"
                                      @click=${() => this.#retrieve(s.studyInstanceUid, se.seriesInstanceUid)}
                                    >
                                      Retrieve series
                                    </button>
                                  </td>
                                </tr>`,
                            )
                          : nothing
                      }
                    `;
                  })}
                </tbody>
              </table>`
      }
    `;
  }
}
