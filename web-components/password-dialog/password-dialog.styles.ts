import { css } from 'lit';

export default css`
  dialog {
    width: min(26rem, calc(100vw - 1.5rem));
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
