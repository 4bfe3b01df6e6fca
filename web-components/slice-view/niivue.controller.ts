import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { Niivue } from '@niivue/niivue';

/** A label of the label map as the structure list knows it. */
export interface SliceLabel {
  label: number;
  /** sRGB 0-255. */
  rgb: [number, number, number];
  visible: boolean;
}

/** CT windows (width, level in HU), as radiology viewers name them. */
export const CT_WINDOWS = {
  'soft tissue': { width: 400, level: 40 },
  lung: { width: 1500, level: -600 },
  bone: { width: 1800, level: 400 },
} as const;
export type CtWindow = keyof typeof CT_WINDOWS;

/** The label map drawn over the scan at this opacity: the anatomy under it stays readable. */
const OVERLAY_OPACITY = 0.45;

let niivueModule: Promise<typeof import('@niivue/niivue')> | undefined;

/**
 * NiiVue on a canvas: the input volume in axial, coronal and sagittal slices with the label map over it. NiiVue
 * (WebGL2, ~300 KB gzip) is fetched only when the first slice view opens, as a separate chunk from this server.
 * Structure visibility is the label colour table's alpha, so the toggles of the structure list hide a label here
 * as they hide its mesh in 3D.
 */
export class NiivueController implements ReactiveController {
  phase: 'idle' | 'loading' | 'loaded' | 'error' = 'idle';
  error = '';
  window: CtWindow | 'auto' = 'auto';

  readonly #host: ReactiveControllerHost;
  #nv: Niivue | undefined;
  #labels: SliceLabel[] = [];
  #load = 0;

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostDisconnected(): void {
    this.release();
  }

  /** Loads the scan and its label map onto `canvas`; a later call supersedes an earlier one still loading. */
  async open(canvas: HTMLCanvasElement, volumeUrl: string, labelUrl: string, labels: SliceLabel[]): Promise<void> {
    const load = ++this.#load;
    this.release();
    this.phase = 'loading';
    this.error = '';
    this.#labels = labels;
    this.#host.requestUpdate();
    try {
      niivueModule ??= import('@niivue/niivue');
      const { Niivue, SLICE_TYPE, SHOW_RENDER, MULTIPLANAR_TYPE } = await niivueModule;
      if (load !== this.#load) return;
      const nv = new Niivue({
        backColor: [0, 0, 0, 1],
        crosshairColor: [0.2, 0.8, 1, 1],
        show3Dcrosshair: false,
        isColorbar: false,
        isOrientCube: false,
        multiplanarShowRender: SHOW_RENDER.NEVER,
        // Axial, coronal and sagittal in a grid: all three fit whatever the canvas' shape.
        multiplanarLayout: MULTIPLANAR_TYPE.GRID,
        logLevel: 'error',
      });
      this.#nv = nv;
      await nv.attachToCanvas(canvas);
      nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
      // `name` tells NiiVue the format (the URL has no file ending it trusts after the query).
      await nv.loadVolumes([
        { url: volumeUrl, name: 'volume.nii.gz', colormap: 'gray' },
        { url: labelUrl, name: 'labels.nii.gz', opacity: OVERLAY_OPACITY },
      ]);
      if (load !== this.#load) return;
      this.#applyLabels();
      this.phase = 'loaded';
    } catch (e) {
      if (load !== this.#load) return;
      this.phase = 'error';
      this.error =
        e instanceof Error && /webgl/i.test(e.message)
          ? 'This browser cannot draw the slices (WebGL2 is off or unavailable).'
          : 'The scan or its label map could not be loaded. The files may have been removed; reload the list.';
    }
    this.#host.requestUpdate();
  }

  /** Shows or hides labels (the structure list's toggles). */
  setLabels(labels: SliceLabel[]): void {
    this.#labels = labels;
    if (this.phase === 'loaded') this.#applyLabels();
  }

  /** A CT window preset, or the volume's own display range (`auto`). */
  setWindow(name: CtWindow | 'auto'): void {
    this.window = name;
    const volume = this.#nv?.volumes[0];
    if (volume && this.#nv) {
      if (name === 'auto') {
        volume.cal_min = volume.robust_min ?? volume.global_min ?? volume.cal_min;
        volume.cal_max = volume.robust_max ?? volume.global_max ?? volume.cal_max;
      } else {
        const { width, level } = CT_WINDOWS[name];
        volume.cal_min = level - width / 2;
        volume.cal_max = level + width / 2;
      }
      this.#nv.updateGLVolume();
    }
    this.#host.requestUpdate();
  }

  release(): void {
    const nv = this.#nv;
    this.#nv = undefined;
    if (!nv) return;
    // Frees the WebGL context at once rather than when the canvas is collected (browsers cap live contexts).
    const gl = nv.gl as WebGL2RenderingContext | undefined;
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
  }

  #applyLabels(): void {
    const nv = this.#nv;
    const overlay = nv?.volumes[1];
    if (!nv || !overlay) return;
    const max = Math.max(0, ...this.#labels.map((l) => l.label));
    const I = Array.from({ length: max + 1 }, (_, i) => i);
    const R = I.map(() => 0);
    const G = I.map(() => 0);
    const B = I.map(() => 0);
    const A = I.map(() => 0);
    for (const l of this.#labels) {
      [R[l.label], G[l.label], B[l.label]] = l.rgb;
      A[l.label] = l.visible ? 255 : 0;
    }
    overlay.setColormapLabel({ R, G, B, A, I });
    nv.updateGLVolume();
  }
}
