import { AgQrDialog } from './qr-dialog.component.ts';

export { AgQrDialog };
export type { AgQrCloseEvent } from './qr-dialog.component.ts';

customElements.define('ag-qr-dialog', AgQrDialog);

declare global {
  interface HTMLElementTagNameMap {
    'ag-qr-dialog': AgQrDialog;
  }
}
