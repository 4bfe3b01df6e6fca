import { AgPacsSend } from './pacs-send.component.ts';

export { AgPacsSend };

customElements.define('ag-pacs-send', AgPacsSend);

declare global {
  interface HTMLElementTagNameMap {
    'ag-pacs-send': AgPacsSend;
  }
}
