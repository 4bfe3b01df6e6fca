import { css } from 'lit';

export default css`
  dialog {
    width: min(28rem, calc(100vw - 1.5rem));
  }
  .close {
    min-height: 2rem;
    padding: 0.2rem 0.6rem;
  }
  .body {
    display: grid;
    gap: 0.9rem;
    padding: 1rem;
    justify-items: center;
    text-align: center;
  }
  .qr {
    width: min(18rem, 72vw);
    aspect-ratio: 1;
    background: #ffffff;
    border: 1px solid var(--ag-border);
    border-radius: var(--ag-radius);
  }
  .link {
    display: flex;
    gap: 0.5rem;
    width: 100%;
  }
  .link input {
    flex: 1;
    min-width: 0;
    padding: 0.4rem 0.6rem;
    border: 1px solid var(--ag-border-strong);
    border-radius: var(--ag-radius);
    font: 0.85rem var(--ag-mono);
    color: var(--ag-text);
    background: var(--ag-surface-sunken);
  }
  .meta {
    margin: 0;
    color: var(--ag-text-muted);
    font-size: 0.925rem;
  }
  .warning {
    margin: 0;
    padding: 0.6rem 0.8rem;
    border-radius: var(--ag-radius);
    background: var(--ag-warning-soft);
    color: var(--ag-warning);
    text-align: left;
    font-size: 0.9rem;
  }
  .choice,
  .contents,
  .active ul {
    width: 100%;
    margin: 0;
    padding: 0;
    list-style: none;
    text-align: left;
    display: grid;
    gap: 0.35rem;
    overflow-wrap: anywhere;
  }
  .choice li,
  .active li {
    display: flex;
    align-items: center;
    gap: 0.5rem;
  }
  .active {
    width: 100%;
    text-align: left;
    font-size: 0.9rem;
  }
  .active li span {
    flex: 1;
  }
  .badge {
    padding: 0.05rem 0.4rem;
    border-radius: var(--ag-radius);
    background: var(--ag-warning-soft);
    color: var(--ag-warning);
    font-size: 0.8rem;
    white-space: nowrap;
  }
  .error {
    margin: 0;
    padding: 0.6rem 0.8rem;
    border-radius: var(--ag-radius);
    background: var(--ag-danger-soft);
    color: var(--ag-danger);
  }
`;
