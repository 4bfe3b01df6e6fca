import { AgLoginForm } from './login-form.component.ts';

export { AgLoginForm };

customElements.define('ag-login-form', AgLoginForm);

declare global {
  interface HTMLElementTagNameMap {
    'ag-login-form': AgLoginForm;
  }
}
