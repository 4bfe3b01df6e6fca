import { AgPasswordDialog } from './password-dialog.component.ts';

export { AgPasswordDialog };

customElements.define('ag-password-dialog', AgPasswordDialog);

declare global {
  interface HTMLElementTagNameMap {
    'ag-password-dialog': AgPasswordDialog;
  }
}
