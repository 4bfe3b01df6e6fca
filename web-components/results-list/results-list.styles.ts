import { css } from 'lit';

export default css`
  :host {
    display: block;
  }
  .finder {
    display: flex;
    flex-wrap: wrap;
    gap: 0.6rem 1rem;
    margin-bottom: 0.8rem;
  }
  .finder label {
    display: grid;
    gap: 0.25rem;
    font-size: 0.875rem;
    font-weight: 500;
  }
  .finder label:first-child {
    flex: 1 1 18rem;
  }
  .finder input,
  .finder select {
    min-height: 2.5rem;
    padding: 0.4rem 0.6rem;
    border: 1px solid var(--ag-border-strong, var(--ag-border));
    border-radius: var(--ag-radius, 6px);
    background: var(--ag-surface);
    color: var(--ag-text);
    font: inherit;
  }
  .toolbar {
    position: sticky;
    top: 0;
    z-index: 2;
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    justify-content: space-between;
    gap: 0.6rem 1rem;
    margin-bottom: 1rem;
    padding: 0.7rem 1rem;
    background: var(--ag-surface);
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius-large);
    box-shadow: var(--ag-shadow);
  }
  .toolbar label {
    display: inline-flex;
    align-items: center;
    gap: 0.5rem;
    font-weight: 500;
    cursor: pointer;
  }
  .toolbar-actions {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.6rem;
  }
  .selected {
    color: var(--ag-text-muted);
    font-size: 0.925rem;
    font-variant-numeric: tabular-nums;
  }
  input[type='checkbox'] {
    width: 1.1rem;
    height: 1.1rem;
    margin: 0;
    accent-color: var(--ag-primary);
    cursor: pointer;
  }
  .results {
    display: grid;
    gap: 1rem;
    margin: 0;
    padding: 0;
    list-style: none;
  }
  .result {
    background: var(--ag-surface);
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius-large);
    box-shadow: var(--ag-shadow);
  }
  .result-head {
    display: grid;
    grid-template-columns: auto minmax(0, 1fr) auto;
    align-items: start;
    gap: 0.75rem;
    padding: 0.9rem 1rem;
  }
  .result-head input {
    margin-top: 0.25rem;
  }
  h2 {
    margin: 0;
    font-size: 1.05rem;
    font-weight: 650;
    overflow-wrap: anywhere;
  }
  .facts {
    display: flex;
    flex-wrap: wrap;
    gap: 0.1rem 1.1rem;
    margin: 0.25rem 0 0;
    padding: 0;
    color: var(--ag-text-muted);
    font-size: 0.875rem;
    list-style: none;
  }
  .expiry-soon {
    color: var(--ag-warning);
    font-weight: 600;
  }
  .pacs {
    padding: 0 1rem 0.8rem;
  }
  .notes {
    padding: 0 1rem 0.8rem;
    font-size: 0.85rem;
  }
  .notes summary {
    cursor: pointer;
    color: var(--ag-text-muted);
  }
  .notes dl {
    display: grid;
    grid-template-columns: auto minmax(0, 1fr);
    gap: 0.25rem 0.75rem;
    margin: 0.5rem 0 0;
  }
  .notes dt {
    font-weight: 600;
  }
  .notes dd {
    margin: 0;
    color: var(--ag-text-muted);
  }
  .files {
    margin: 0;
    padding: 0;
    list-style: none;
    border-top: 1px solid var(--ag-border);
  }
  .result-actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
    justify-content: flex-end;
    padding: 0 1rem 0.5rem;
  }
  .result-actions .error {
    color: var(--ag-danger);
    font-size: 0.875rem;
  }
  .file {
    display: grid;
    grid-template-columns: auto minmax(0, 1fr) auto auto;
    align-items: center;
    gap: 0.75rem;
    padding: 0.45rem 1rem;
    border-bottom: 1px solid var(--ag-border);
    font-size: 0.925rem;
  }
  .file:last-child {
    border-bottom: none;
  }
  /* Names wrap rather than truncate: "x_seg.dcm", "x_seg.nii.gz" and "x_segments.json" differ only at the end. */
  .file label {
    overflow-wrap: anywhere;
    font-family: var(--ag-mono);
    font-size: 0.85rem;
    cursor: pointer;
  }
  .size {
    color: var(--ag-text-muted);
    font-variant-numeric: tabular-nums;
    white-space: nowrap;
  }
  .state {
    padding: 2.5rem 1rem;
    background: var(--ag-surface);
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius-large);
    text-align: center;
    color: var(--ag-text-muted);
  }
  .state.error {
    color: var(--ag-danger);
    background: var(--ag-danger-soft);
    border-color: transparent;
  }
  .state p {
    margin: 0 0 0.75rem;
  }
  @media (max-width: 480px) {
    .toolbar {
      padding: 0.6rem 0.75rem;
    }
    .result-head {
      grid-template-columns: auto minmax(0, 1fr);
      padding: 0.75rem;
    }
    .result-head .preview {
      grid-column: 2;
      justify-self: start;
    }
    .file {
      grid-template-columns: auto minmax(0, 1fr) auto;
      padding: 0.45rem 0.75rem;
    }
    .file .size {
      display: none;
    }
  }
`;
