import { AgUserAdmin } from './user-admin.component.ts';

export { AgUserAdmin };

customElements.define('ag-user-admin', AgUserAdmin);

declare global {
  interface HTMLElementTagNameMap {
    'ag-user-admin': AgUserAdmin;
  }
}
