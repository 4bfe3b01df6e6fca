import { css } from 'lit';

export default css`
  :host {
    display: block;
  }
  .card {
    background: var(--ag-surface);
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius-large);
    box-shadow: var(--ag-shadow);
    overflow: hidden;
  }
  .drop {
    display: grid;
    justify-items: center;
    gap: 0.75rem;
    margin: 1rem;
    padding: 2rem 1rem;
    border: 2px dashed var(--ag-border-strong);
    border-radius: var(--ag-radius-large);
    background: var(--ag-surface-sunken);
    text-align: center;
    transition:
      border-color 120ms,
      background-color 120ms;
  }
  .drop.over {
    border-color: var(--ag-primary);
    background: var(--ag-primary-soft);
  }
  .drop svg {
    width: 2.75rem;
    height: 2.75rem;
    color: var(--ag-primary);
  }
  .drop-title {
    margin: 0;
    font-size: 1.1rem;
    font-weight: 600;
  }
  .drop-hint {
    margin: 0;
    color: var(--ag-text-muted);
    font-size: 0.925rem;
  }
  .pickers {
    display: flex;
    flex-wrap: wrap;
    justify-content: center;
    gap: 0.5rem;
  }
  input[type='file'] {
    display: none;
  }
  .overall {
    display: grid;
    gap: 0.5rem;
    padding: 1rem;
    border-top: 1px solid var(--ag-border);
  }
  .overall-line {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    justify-content: space-between;
    gap: 0.5rem 1rem;
  }
  .overall-actions {
    display: flex;
    gap: 0.5rem;
  }
  .summary {
    font-weight: 500;
  }
  .files {
    max-height: 22rem;
    margin: 0;
    padding: 0;
    overflow: auto;
    list-style: none;
    border-top: 1px solid var(--ag-border);
  }
  .file {
    display: grid;
    grid-template-columns: minmax(0, 1fr) auto;
    gap: 0.2rem 1rem;
    padding: 0.55rem 1rem;
    border-bottom: 1px solid var(--ag-border);
    font-size: 0.925rem;
  }
  .file:last-child {
    border-bottom: none;
  }
  .file-name {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-family: var(--ag-mono);
    font-size: 0.85rem;
  }
  .file-size {
    color: var(--ag-text-muted);
    font-variant-numeric: tabular-nums;
  }
  .file progress {
    grid-column: 1 / -1;
    height: 0.3rem;
  }
  .file-outcome {
    grid-column: 1 / -1;
    color: var(--ag-text-muted);
  }
  .file[data-state='accepted'] .file-outcome,
  .file[data-state='job-succeeded'] .file-outcome {
    color: var(--ag-success);
  }
  .file[data-state='rejected'] .file-outcome,
  .file[data-state='failed'] .file-outcome,
  .file[data-state='job-failed'] .file-outcome {
    color: var(--ag-danger);
  }
  .batch-note {
    margin: 0.4rem 0 0;
    font-size: 0.9rem;
    color: var(--ag-text-muted);
  }
  .reasons {
    padding: 0.6rem 1rem;
    border-top: 1px solid var(--ag-border);
  }
  .reasons h3 {
    margin: 0 0 0.3rem;
    font-size: 0.95rem;
  }
  .reasons ul {
    margin: 0;
    padding: 0;
    list-style: none;
    display: grid;
    gap: 0.3rem;
  }
  .reasons li {
    display: grid;
    grid-template-columns: auto minmax(0, 1fr) auto;
    gap: 0.75rem;
    align-items: baseline;
  }
  .reason-count {
    font-weight: 600;
    font-variant-numeric: tabular-nums;
  }
  .reason-text {
    color: var(--ag-danger);
    overflow-wrap: anywhere;
  }
  .more {
    padding: 0.55rem 1rem;
    color: var(--ag-text-muted);
    font-size: 0.9rem;
  }
  .banner {
    margin: 0 1rem 1rem;
    padding: 0.6rem 0.9rem;
    border-radius: var(--ag-radius);
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
  }
  @media (max-width: 480px) {
    .drop {
      margin: 0.75rem;
      padding: 1.25rem 0.75rem;
    }
    .file {
      padding: 0.5rem 0.75rem;
    }
  }
`;
