import { AgModelPreview } from './model-preview.component.ts';

export { AgModelPreview };
export type { AgPreviewLoadEvent, AgPreviewErrorEvent } from './model-preview.component.ts';

customElements.define('ag-model-preview', AgModelPreview);

declare global {
  interface HTMLElementTagNameMap {
    'ag-model-preview': AgModelPreview;
  }
}
