import { AgAppHeader } from './app-header.component.ts';

export { AgAppHeader };

customElements.define('ag-app-header', AgAppHeader);

declare global {
  interface HTMLElementTagNameMap {
    'ag-app-header': AgAppHeader;
  }
}
