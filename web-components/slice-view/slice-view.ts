import { AgSliceView } from './slice-view.component.ts';

export { AgSliceView };
export type { AgSlicesLoadEvent, SliceLabel } from './slice-view.component.ts';

customElements.define('ag-slice-view', AgSliceView);

declare global {
  interface HTMLElementTagNameMap {
    'ag-slice-view': AgSliceView;
  }
}
