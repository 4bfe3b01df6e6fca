import { AgUploadPanel } from './upload-panel.component.ts';

export { AgUploadPanel };
export type { AgUploadFinishedEvent, UploadFinishedDetail } from './upload-panel.component.ts';

customElements.define('ag-upload-panel', AgUploadPanel);

declare global {
  interface HTMLElementTagNameMap {
    'ag-upload-panel': AgUploadPanel;
  }
}
