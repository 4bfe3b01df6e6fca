import { css } from 'lit';

export default css`
  dialog {
    width: min(26rem, calc(100vw - 1.5rem));
    padding: 0;
    border: none;
    border-radius: var(--ag-radius-large);
    background: var(--ag-surface);
    color: var(--ag-text);
    box-shadow: var(--ag-shadow-large);
  }
  dialog::backdrop {
    background: rgba(15, 23, 42, 0.55);
  }
  .head {
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 1rem;
    padding: 0.9rem 1rem;
    border-bottom: 1px solid var(--ag-border);
  }
  h2 {
    margin: 0;
    font-size: 1.15rem;
  }
  .body {
    display: grid;
    gap: 0.8rem;
    padding: 1rem;
  }
  label {
    display: grid;
    gap: 0.25rem;
    font-weight: 600;
    font-size: 0.9rem;
  }
  input {
    font: inherit;
    font-weight: 400;
    padding: 0.45rem 0.6rem;
    border: 1px solid var(--ag-border-strong);
    border-radius: var(--ag-radius);
  }
  .error {
    margin: 0;
    padding: 0.45rem 0.7rem;
    border-radius: var(--ag-radius);
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
  }
  .ok {
    margin: 0;
    color: var(--ag-success);
  }
`;
