import { css } from 'lit';

/**
 * The frame every dialog shares: the panel on its dimmed backdrop and a head row with the title
 * (and, where there is one, a close button). Each element sets its panel's size.
 */
export const dialogStyles = css`
  dialog {
    max-height: calc(100dvh - 1.5rem);
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
    overflow-wrap: anywhere;
  }
`;
