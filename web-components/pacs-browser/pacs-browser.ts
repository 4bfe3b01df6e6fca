import { AgPacsBrowser } from './pacs-browser.component.ts';

export { AgPacsBrowser };

customElements.define('ag-pacs-browser', AgPacsBrowser);

declare global {
  interface HTMLElementTagNameMap {
    'ag-pacs-browser': AgPacsBrowser;
  }
}
