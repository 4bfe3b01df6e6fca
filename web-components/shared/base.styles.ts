import { css } from 'lit';

/**
 * Buttons, focus rings and visually-hidden text shared by every element. Colours and spacing come
 * from the custom properties in styles/app.css, which inherit through shadow roots.
 */
export const baseStyles = css`
  :host {
    box-sizing: border-box;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  [hidden] {
    display: none !important;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  button,
  .button {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 0.4em;
    min-height: 2.25rem;
    padding: 0.35rem 0.9rem;
    border: 1px solid var(--ag-border-strong);
    border-radius: var(--ag-radius);
    background: var(--ag-surface);
    color: var(--ag-text);
    font: inherit;
    font-weight: 500;
    line-height: 1.2;
    text-decoration: none;
    cursor: pointer;
    transition:
      background-color 120ms,
      border-color 120ms;
  }
  button:hover:not(:disabled),
  .button:hover {
    background: var(--ag-surface-hover);
  }
  button.primary,
  .button.primary {
    background: var(--ag-primary);
    border-color: var(--ag-primary);
    color: var(--ag-on-primary);
  }
  button.primary:hover:not(:disabled),
  .button.primary:hover {
    background: var(--ag-primary-hover);
  }
  button.danger {
    color: var(--ag-danger);
    border-color: currentColor;
  }
  button.small,
  .button.small {
    min-height: 1.9rem;
    padding: 0.2rem 0.6rem;
    font-size: 0.875rem;
  }
  button:disabled {
    opacity: 0.55;
    cursor: not-allowed;
  }
  :focus-visible {
    outline: 3px solid var(--ag-focus);
    outline-offset: 2px;
  }
  a {
    color: var(--ag-link);
  }
  progress {
    width: 100%;
    height: 0.5rem;
    appearance: none;
    border: none;
    border-radius: 999px;
    background: var(--ag-track);
    overflow: hidden;
  }
  progress::-webkit-progress-bar {
    background: var(--ag-track);
    border-radius: 999px;
  }
  progress::-webkit-progress-value {
    background: var(--ag-primary);
    border-radius: 999px;
    transition: width 200ms;
  }
  progress::-moz-progress-bar {
    background: var(--ag-primary);
    border-radius: 999px;
  }
  progress.failed::-webkit-progress-value {
    background: var(--ag-danger);
  }
  progress.done::-webkit-progress-value {
    background: var(--ag-success);
  }
  .error-text {
    color: var(--ag-danger);
  }
  .muted {
    color: var(--ag-text-muted);
  }
`;
