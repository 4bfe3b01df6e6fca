import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import { styleMap } from 'lit/directives/style-map.js';
import type { ModelViewerElement } from '@google/model-viewer';
import { baseStyles } from '../shared/base.styles.ts';
import { dialogStyles } from '../shared/dialog.styles.ts';
import type { ResultJson } from '../shared/api.ts';
import { deepActiveElement, trapTab } from '../shared/modal.ts';
import { fetchGlbJson, normaliseName, segmentRgb, structureNamesByMaterial } from './segment-names.ts';
import '../slice-view/slice-view.ts';
import type { SliceLabel } from '../slice-view/slice-view.ts';
import styles from './model-preview.styles.ts';

type Material = NonNullable<ModelViewerElement['model']>['materials'][number];
type Rgba = [number, number, number, number];

interface Structure {
  name: string;
  color: string;
  volumeMl: number | undefined;
  /** The engine's quality note on this structure, when it gave one. */
  note: string | undefined;
  visible: boolean;
  material: Material;
  alpha: number;
  alphaMode: ReturnType<Material['getAlphaMode']>;
}

export type AgPreviewLoadEvent = CustomEvent<{ structures: number }>;
export type AgPreviewErrorEvent = CustomEvent<{ message: string }>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-preview-load': AgPreviewLoadEvent;
    'ag-preview-error': AgPreviewErrorEvent;
  }
}

let viewerReady: Promise<void> | undefined;

/**
 * model-viewer and three.js are ~250 KB gzip: fetched only when the first preview opens, as a
 * separate chunk. Decoders for compressed glTF are pointed at this server (a hospital LAN has no
 * internet; model-viewer's defaults are Google's CDN).
 */
function loadViewer(): Promise<void> {
  viewerReady ??= import('@google/model-viewer').then(({ ModelViewerElement }) => {
    const meta = document.querySelector<HTMLMetaElement>('meta[name="ag-decoders"]');
    const Viewer = ModelViewerElement as unknown as {
      dracoDecoderLocation: string;
      ktx2TranscoderLocation: string;
      meshoptDecoderLocation: string;
    };
    if (meta?.dataset.draco) Viewer.dracoDecoderLocation = meta.dataset.draco;
    if (meta?.dataset.basis) Viewer.ktx2TranscoderLocation = meta.dataset.basis;
    if (meta?.dataset.meshopt) Viewer.meshoptDecoderLocation = meta.dataset.meshopt;
  });
  return viewerReady;
}

function toCss([r, g, b]: Readonly<Rgba> | readonly number[]): string {
  // glTF colours are linear; the swatch is sRGB.
  const s = (c: number) => Math.round(255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055));
  return `rgb(${s(r ?? 0)} ${s(g ?? 0)} ${s(b ?? 0)})`;
}

/**
 * @summary A modal 3D preview of a result's model with a list of structures to show or hide.
 * @event ag-preview-load - the model is on screen (detail.structures).
 * @event ag-preview-error - the model could not be shown (detail.message).
 */
export class AgModelPreview extends LitElement {
  static override styles = [baseStyles, dialogStyles, styles];

  @state() private result: ResultJson | undefined;
  @state() private phase: 'idle' | 'loading' | 'loaded' | 'error' = 'idle';
  @state() private progress = 0;
  @state() private error = '';
  @state() private structures: Structure[] = [];
  /** 3D model, slices, or both side by side (the default where the screen is wide enough). */
  @state() private view: '3d' | 'slices' | 'both' = 'both';

  @query('dialog') private dialog!: HTMLDialogElement;

  #returnFocus: HTMLElement | null = null;
  /** Structure names per material index, read from the model's node and mesh names. */
  #names: Promise<Map<number, string>> = Promise.resolve(new Map());
  #namesAbort: AbortController | undefined;

  async show(result: ResultJson): Promise<void> {
    this.#returnFocus = deepActiveElement();
    this.result = result;
    this.structures = [];
    this.error = '';
    this.progress = 0;
    this.phase = 'loading';
    this.view = window.matchMedia('(min-width: 1000px)').matches ? 'both' : '3d';
    this.#namesAbort?.abort();
    const abort = (this.#namesAbort = new AbortController());
    this.#names = result.previewUrl
      ? fetchGlbJson(`${result.previewUrl}?inline=1`, abort.signal).then(
          (json) => (json ? structureNamesByMaterial(json) : new Map<number, string>()),
          () => new Map<number, string>(),
        )
      : Promise.resolve(new Map());
    await this.updateComplete;
    this.dialog.showModal();
    this.renderRoot.querySelector<HTMLElement>('.close')?.focus();
    try {
      await loadViewer();
    } catch {
      this.#fail('The 3D viewer could not be loaded. Reload the page and try again.');
    }
  }

  hide(): void {
    if (this.dialog?.open) this.dialog.close();
  }

  #onClose(): void {
    // Dropping the src releases the model's GPU memory.
    this.result = undefined;
    this.phase = 'idle';
    this.#namesAbort?.abort();
    this.#returnFocus?.focus();
    this.#returnFocus = null;
  }

  #fail(message: string): void {
    this.phase = 'error';
    this.error = message;
    this.dispatchEvent(new CustomEvent('ag-preview-error', { detail: { message }, bubbles: true, composed: true }));
  }

  async #onLoad(event: Event): Promise<void> {
    const viewer = event.target as ModelViewerElement;
    const result = this.result;
    const names = await this.#names;
    if (this.result !== result) return;
    const bySegment = new Map((this.result?.segments ?? []).map((s) => [normaliseName(String(s.name)), s]));
    this.structures = (viewer.model?.materials ?? []).map((material, i) => {
      const factor = material.pbrMetallicRoughness.baseColorFactor;
      const name = names.get(material.index) || material.name || `Structure ${i + 1}`;
      const segment = bySegment.get(normaliseName(name));
      return {
        name,
        color: toCss(factor),
        volumeMl: typeof segment?.volumeMl === 'number' ? segment.volumeMl : undefined,
        note: typeof segment?.note === 'string' ? segment.note : undefined,
        visible: true,
        material,
        alpha: factor[3],
        alphaMode: material.getAlphaMode(),
      };
    });
    this.phase = 'loaded';
    this.dispatchEvent(
      new CustomEvent('ag-preview-load', {
        detail: { structures: this.structures.length },
        bubbles: true,
        composed: true,
      }),
    );
  }

  #onError(event: Event): void {
    const type = (event as CustomEvent<{ type?: string }>).detail?.type;
    this.#fail(
      type === 'webglcontextlost'
        ? 'The graphics card stopped drawing the model. Close other 3D views and try again.'
        : 'The model could not be loaded. The file may have been removed; reload the list.',
    );
  }

  /**
   * model-viewer has no per-node visibility; a structure is hidden by making its material fully
   * transparent in MASK mode, which discards the fragments (no blending, no depth writes) so it
   * neither shows nor occludes what is behind it.
   */
  #setVisible(structure: Structure, visible: boolean): void {
    const [r, g, b] = structure.material.pbrMetallicRoughness.baseColorFactor;
    if (visible) {
      structure.material.setAlphaMode(structure.alphaMode);
      structure.material.pbrMetallicRoughness.setBaseColorFactor([r, g, b, structure.alpha]);
    } else {
      structure.material.setAlphaMode('MASK');
      structure.material.setAlphaCutoff(0.5);
      structure.material.pbrMetallicRoughness.setBaseColorFactor([r, g, b, 0]);
    }
    structure.visible = visible;
    this.structures = [...this.structures];
  }

  #setAll(visible: boolean): void {
    for (const s of this.structures) if (s.visible !== visible) this.#setVisible(s, visible);
  }

  /**
   * The label map's labels for the slice view, hidden where the structure list hides the structure of the same
   * name, so one set of toggles governs both views.
   */
  #sliceLabels(): SliceLabel[] {
    const hidden = new Set(this.structures.filter((s) => !s.visible).map((s) => normaliseName(s.name)));
    // "None" hides every label, whether or not each structure's name matched its segment.
    const none = this.structures.length > 0 && this.structures.every((s) => !s.visible);
    return (this.result?.segments ?? []).flatMap((segment) => {
      const rgb = segmentRgb(segment);
      if (typeof segment.label !== 'number' || !rgb) return [];
      return [{ label: segment.label, rgb, visible: !none && !hidden.has(normaliseName(String(segment.name))) }];
    });
  }

  #renderViewSwitch() {
    const views = [
      ['3d', '3D'],
      ['slices', 'Slices'],
      ['both', 'Both'],
    ] as const;
    return html`<div class="views" role="group" aria-label="Show">
      ${views.map(
        ([id, label]) =>
          html`<button
            class="small"
            type="button"
            aria-pressed=${this.view === id ? 'true' : 'false'}
            @click=${() => (this.view = id)}
          >
            ${label}
          </button>`,
      )}
    </div>`;
  }

  override render() {
    const result = this.result;
    const src = result?.previewUrl ? `${result.previewUrl}?inline=1` : undefined;
    return html`
      <dialog
        aria-labelledby="preview-title"
        @close=${this.#onClose}
        @keydown=${(e: KeyboardEvent) => trapTab(this.dialog, e)}
      >
        <div class="head">
          <h2 id="preview-title">${result ? `3D preview · ${result.displayName || result.name}` : '3D preview'}</h2>
          ${this.#renderViewSwitch()}
          <button class="close small" type="button" @click=${this.hide} aria-label="Close preview">✕</button>
        </div>
        <div class="layout" data-view=${this.view}>
          <div class="stage" ?hidden=${this.view === 'slices'}>
            ${
              src && this.phase !== 'idle'
                ? html`<model-viewer
                    src=${src}
                    alt=${`3D model of ${result?.displayName || result?.name || 'the result'}`}
                    camera-controls
                    touch-action="pan-y"
                    interaction-prompt="none"
                    shadow-intensity="0"
                    exposure="1.1"
                    environment-image="neutral"
                    @load=${this.#onLoad}
                    @error=${this.#onError}
                    @progress=${(e: CustomEvent<{ totalProgress: number }>) => (this.progress = Math.round(e.detail.totalProgress * 100))}
                  ></model-viewer>`
                : nothing
            }
            ${
              this.phase === 'loading'
                ? html`<div class="overlay" role="status">
                    <span>Loading the model…</span>
                    <progress max="100" .value=${this.progress} aria-label="Model download"></progress>
                  </div>`
                : nothing
            }
            ${this.phase === 'error' ? html`<div class="overlay error" role="alert">${this.error}</div>` : nothing}
            ${!src && result ? html`<div class="overlay error" role="alert">This result has no 3D model file.</div>` : nothing}
          </div>
          ${
            result && this.phase !== 'idle' && this.view !== '3d'
              ? html`<ag-slice-view class="slices" .result=${result} .labels=${this.#sliceLabels()}></ag-slice-view>`
              : nothing
          }
          <aside aria-label="Structures">
            <div class="aside-head">
              Structures (${this.structures.length})
              <span>
                <button
                  class="small"
                  type="button"
                  ?disabled=${this.structures.length === 0}
                  @click=${() => this.#setAll(true)}
                >
                  All
                </button>
                <button
                  class="small"
                  type="button"
                  ?disabled=${this.structures.length === 0}
                  @click=${() => this.#setAll(false)}
                >
                  None
                </button>
              </span>
            </div>
            <ul>
              ${this.structures.map(
                (s) =>
                  html`<li>
                    <label>
                      <input
                        type="checkbox"
                        .checked=${s.visible}
                        @change=${(e: Event) => this.#setVisible(s, (e.target as HTMLInputElement).checked)}
                      />
                      <span class="swatch" style=${styleMap({ background: s.color })}></span>
                      <span class="seg-name" title=${s.name}>${s.name}</span>
                      <span class="seg-volume">${s.volumeMl !== undefined ? `${s.volumeMl.toFixed(1)} mL` : ''}</span>
                      ${s.note ? html`<span class="seg-note">${s.note}</span>` : nothing}
                    </label>
                  </li>`,
              )}
            </ul>
            <p class="hint">Drag to rotate, scroll or pinch to zoom, right-drag or two fingers to pan.</p>
          </aside>
        </div>
      </dialog>
    `;
  }
}
