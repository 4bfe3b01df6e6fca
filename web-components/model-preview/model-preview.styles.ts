import { css } from 'lit';

export default css`
  dialog {
    width: min(100rem, calc(100vw - 1.5rem));
    height: min(44rem, calc(100dvh - 1.5rem));
    overflow: hidden;
  }
  dialog[open] {
    display: flex;
    flex-direction: column;
  }
  .head {
    padding: 0.75rem 1rem;
  }
  h2 {
    font-size: 1.1rem;
  }
  .layout {
    flex: 1;
    display: grid;
    grid-template-columns: minmax(0, 1fr) 17rem;
    min-height: 0;
  }
  .layout[data-view='both'] {
    grid-template-columns: minmax(0, 1fr) minmax(0, 1fr) 17rem;
  }
  .slices {
    padding: 0.5rem;
    background: var(--ag-surface-sunken);
  }
  [hidden] {
    display: none !important;
  }
  .views {
    display: inline-flex;
    gap: 0.25rem;
    margin-left: auto;
  }
  .views button[aria-pressed='true'] {
    background: var(--ag-primary);
    color: var(--ag-on-primary);
    border-color: var(--ag-primary);
  }
  .stage {
    position: relative;
    min-height: 0;
    background: radial-gradient(circle at 50% 40%, #2a3b52, #0d1520);
  }
  model-viewer {
    width: 100%;
    height: 100%;
    --poster-color: transparent;
  }
  .overlay {
    position: absolute;
    inset: 0;
    display: grid;
    place-content: center;
    gap: 0.75rem;
    padding: 1rem;
    color: #e6edf5;
    text-align: center;
    pointer-events: none;
  }
  .overlay progress {
    width: 14rem;
  }
  .overlay.error {
    color: #ffd7d2;
  }
  aside {
    display: flex;
    flex-direction: column;
    min-height: 0;
    border-left: 1px solid var(--ag-border);
  }
  .aside-head {
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 0.5rem;
    padding: 0.6rem 0.8rem;
    border-bottom: 1px solid var(--ag-border);
    font-weight: 600;
  }
  .aside-head span {
    display: flex;
    gap: 0.3rem;
  }
  ul {
    flex: 1;
    margin: 0;
    padding: 0.25rem 0;
    overflow: auto;
    list-style: none;
  }
  li label {
    display: grid;
    grid-template-columns: auto auto minmax(0, 1fr) auto;
    align-items: center;
    gap: 0.5rem;
    padding: 0.35rem 0.8rem;
    cursor: pointer;
    font-size: 0.9rem;
  }
  li label:hover {
    background: var(--ag-surface-hover);
  }
  input[type='checkbox'] {
    width: 1.05rem;
    height: 1.05rem;
    margin: 0;
    accent-color: var(--ag-primary);
  }
  .swatch {
    width: 0.9rem;
    height: 0.9rem;
    border-radius: 3px;
    border: 1px solid rgba(0, 0, 0, 0.2);
  }
  .seg-name {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .seg-volume {
    color: var(--ag-text-muted);
    font-size: 0.8rem;
    font-variant-numeric: tabular-nums;
  }
  .seg-note {
    grid-column: 3 / -1;
    color: var(--ag-text-muted);
    font-size: 0.78rem;
    line-height: 1.3;
  }
  .hint {
    margin: 0;
    padding: 0.6rem 0.8rem;
    border-top: 1px solid var(--ag-border);
    color: var(--ag-text-muted);
    font-size: 0.8rem;
  }
  @media (max-width: 720px) {
    .layout,
    .layout[data-view='both'] {
      grid-template-columns: minmax(0, 1fr);
      grid-template-rows: minmax(0, 1.4fr) minmax(0, 1fr);
    }
    aside {
      border-left: none;
      border-top: 1px solid var(--ag-border);
    }
  }
`;
