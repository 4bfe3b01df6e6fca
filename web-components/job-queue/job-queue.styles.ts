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
  }
  .head {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    justify-content: space-between;
    gap: 0.5rem 1rem;
    padding: 0.9rem 1rem;
    border-bottom: 1px solid var(--ag-border);
  }
  h2 {
    margin: 0;
    font-size: 1.15rem;
    font-weight: 650;
  }
  .connection {
    display: inline-flex;
    align-items: center;
    gap: 0.4rem;
    font-size: 0.875rem;
    color: var(--ag-text-muted);
  }
  .dot {
    width: 0.6rem;
    height: 0.6rem;
    border-radius: 50%;
    background: var(--ag-warning);
  }
  .connection[data-state='live'] .dot {
    background: var(--ag-success);
  }
  .counts {
    display: grid;
    grid-template-columns: repeat(5, minmax(0, 1fr));
    margin: 0;
    border-bottom: 1px solid var(--ag-border);
  }
  .counts div {
    padding: 0.6rem 1rem;
  }
  .counts div + div {
    border-left: 1px solid var(--ag-border);
  }
  .counts dt {
    color: var(--ag-text-muted);
    font-size: 0.8rem;
    text-transform: uppercase;
    letter-spacing: 0.04em;
  }
  .counts dd {
    margin: 0;
    font-size: 1.35rem;
    font-weight: 650;
    font-variant-numeric: tabular-nums;
  }
  ol {
    margin: 0;
    padding: 0;
    list-style: none;
  }
  .job {
    display: grid;
    grid-template-columns: minmax(0, 1fr) auto;
    gap: 0.35rem 1rem;
    padding: 0.8rem 1rem;
    border-bottom: 1px solid var(--ag-border);
  }
  .job:last-child {
    border-bottom: none;
  }
  .title {
    display: flex;
    flex-wrap: wrap;
    align-items: baseline;
    gap: 0.25rem 0.6rem;
    min-width: 0;
  }
  .name {
    font-weight: 600;
    overflow-wrap: anywhere;
  }
  .badge {
    display: inline-block;
    padding: 0.05rem 0.5rem;
    border-radius: 999px;
    background: var(--ag-track);
    color: var(--ag-text);
    font-size: 0.78rem;
    font-weight: 600;
    white-space: nowrap;
  }
  .badge[data-state='receiving'] {
    background: var(--ag-warning-soft);
    color: var(--ag-warning);
  }
  .head-actions {
    display: inline-flex;
    align-items: center;
    gap: 0.75rem;
  }
  .banner {
    margin: 0.6rem 1rem;
  }
  .note {
    grid-column: 1 / -1;
    margin: 0;
    color: var(--ag-text-muted);
    font-size: 0.9rem;
  }
  .badge[data-state='running'] {
    background: var(--ag-primary-soft);
    color: var(--ag-primary);
  }
  .badge[data-state='succeeded'] {
    background: var(--ag-success-soft);
    color: var(--ag-success);
  }
  .badge[data-state='failed'] {
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
  }
  .badge[data-state='cancelled'] {
    background: var(--ag-warning-soft);
    color: var(--ag-warning);
  }
  .actions {
    display: flex;
    gap: 0.4rem;
    align-items: start;
  }
  .detail {
    grid-column: 1 / -1;
    display: flex;
    flex-wrap: wrap;
    gap: 0.15rem 1rem;
    color: var(--ag-text-muted);
    font-size: 0.875rem;
  }
  .progress-line {
    grid-column: 1 / -1;
    display: grid;
    grid-template-columns: minmax(0, 1fr) 3rem;
    align-items: center;
    gap: 0.75rem;
    font-size: 0.875rem;
    font-variant-numeric: tabular-nums;
  }
  .progress-line span {
    text-align: right;
  }
  .error {
    grid-column: 1 / -1;
    margin: 0;
    padding: 0.45rem 0.7rem;
    border-radius: var(--ag-radius);
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
    font-size: 0.9rem;
    overflow-wrap: anywhere;
  }
  .empty,
  .loading {
    padding: 2rem 1rem;
    text-align: center;
    color: var(--ag-text-muted);
  }
  @media (max-width: 480px) {
    .counts {
      grid-template-columns: repeat(3, minmax(0, 1fr));
    }
    .counts div:nth-child(4) {
      border-left: none;
    }
    .counts div:nth-child(n + 4) {
      border-top: 1px solid var(--ag-border);
    }
    .job {
      grid-template-columns: minmax(0, 1fr);
    }
  }
`;
