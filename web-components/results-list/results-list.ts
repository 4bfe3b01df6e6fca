import { AgResultsList } from './results-list.component.ts';

export { AgResultsList };
export type { AgSelectionChangeEvent } from './results-list.component.ts';

customElements.define('ag-results-list', AgResultsList);

declare global {
  interface HTMLElementTagNameMap {
    'ag-results-list': AgResultsList;
  }
}
