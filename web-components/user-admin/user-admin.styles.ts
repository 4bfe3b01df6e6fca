import { css } from 'lit';

export default css`
  :host {
    display: grid;
    gap: 1.5rem;
  }
  .card {
    padding: 1rem;
    background: var(--ag-surface);
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius-large);
    box-shadow: var(--ag-shadow);
    overflow-x: auto;
  }
  h2 {
    margin: 0 0 0.75rem;
    font-size: 1.15rem;
  }
  h3 {
    margin: 0;
    font-size: 1rem;
    grid-column: 1 / -1;
  }
  .lead {
    margin: 0 0 0.75rem;
    color: var(--ag-text-muted);
  }
  table {
    width: 100%;
    border-collapse: collapse;
    font-size: 0.9rem;
  }
  th,
  td {
    padding: 0.45rem 0.5rem;
    text-align: left;
    border-bottom: 1px solid var(--ag-border);
    vertical-align: middle;
  }
  .row-actions {
    white-space: nowrap;
    text-align: right;
  }
  .roles {
    display: inline-flex;
    flex-wrap: wrap;
    gap: 0.6rem;
    margin: 0;
    padding: 0;
    border: none;
  }
  .roles legend {
    float: left;
    margin-right: 0.5rem;
    font-weight: 600;
  }
  .inline-roles .roles legend {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
  }
  .inline-roles {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
  }
  .create {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr));
    gap: 0.75rem;
    align-items: end;
    margin-top: 1rem;
    padding-top: 1rem;
    border-top: 1px solid var(--ag-border);
  }
  .create label:not(.role) {
    display: grid;
    gap: 0.25rem;
    font-weight: 600;
    font-size: 0.9rem;
  }
  input:not([type='checkbox']) {
    font: inherit;
    font-weight: 400;
    padding: 0.4rem 0.6rem;
    border: 1px solid var(--ag-border-strong);
    border-radius: var(--ag-radius);
  }
  .error {
    margin: 0;
    padding: 0.5rem 0.75rem;
    border-radius: var(--ag-radius);
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
  }
  .ok {
    margin: 0;
    color: var(--ag-success);
  }
  .secret {
    margin-top: 0.5rem;
    padding: 0.75rem;
    border-radius: var(--ag-radius);
    background: var(--ag-warning-soft);
  }
  .secret p {
    margin: 0 0 0.4rem;
  }
  code {
    font-family: var(--ag-mono);
    overflow-wrap: anywhere;
    user-select: all;
  }
`;
