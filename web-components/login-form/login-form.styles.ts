import { css } from 'lit';
import { baseStyles } from '../shared/base.styles.ts';

export default [
  baseStyles,
  css`
    :host {
      display: block;
      max-width: 24rem;
      margin: 3rem auto;
    }
    form {
      display: grid;
      gap: 1rem;
      padding: 1.5rem;
      border: 1px solid var(--ag-border);
      border-radius: var(--ag-radius-large);
      background: var(--ag-surface);
      box-shadow: var(--ag-shadow);
    }
    h1 {
      margin: 0;
      font-size: 1.35rem;
    }
    label {
      display: grid;
      gap: 0.3rem;
      font-weight: 550;
    }
    input {
      font: inherit;
      padding: 0.5rem 0.6rem;
      border: 1px solid var(--ag-border-strong);
      border-radius: var(--ag-radius);
      background: var(--ag-surface);
      color: var(--ag-text);
    }
    input:focus-visible {
      outline: 3px solid var(--ag-focus);
      outline-offset: 1px;
    }
    button[type='submit'] {
      background: var(--ag-primary);
      border-color: var(--ag-primary);
      color: var(--ag-on-primary);
      font-weight: 600;
    }
    button[type='submit']:hover:not(:disabled) {
      background: var(--ag-primary-hover);
    }
    .error {
      margin: 0;
      padding: 0.6rem 0.75rem;
      border-radius: var(--ag-radius);
      background: var(--ag-danger-soft);
      color: var(--ag-danger);
    }
    .hint {
      margin: 0;
      color: var(--ag-text-muted);
      font-size: 0.9rem;
    }
  `,
];
