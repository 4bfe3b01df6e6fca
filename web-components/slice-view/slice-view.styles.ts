import { css } from 'lit';

export default css`
  :host {
    display: grid;
    grid-template-rows: auto minmax(0, 1fr) auto;
    min-height: 0;
    gap: 0.4rem;
  }
  .toolbar {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
    font-size: 0.875rem;
  }
  .toolbar label {
    display: inline-flex;
    gap: 0.4rem;
    align-items: center;
  }
  select {
    font: inherit;
    padding: 0.2rem 0.4rem;
    border: 1px solid var(--ag-border-strong);
    border-radius: var(--ag-radius);
    background: var(--ag-surface);
    color: var(--ag-text);
  }
  .stage {
    position: relative;
    min-height: 16rem;
    background: #000;
    border-radius: var(--ag-radius);
    overflow: hidden;
  }
  canvas {
    display: block;
    width: 100%;
    height: 100%;
    position: absolute;
    inset: 0;
  }
  .overlay {
    position: absolute;
    inset: 0;
    display: grid;
    place-items: center;
    padding: 1rem;
    text-align: center;
    color: #fff;
    background: rgba(0, 0, 0, 0.6);
  }
  .overlay.error {
    color: #ffd8d3;
  }
  .hint {
    margin: 0;
    font-size: 0.8rem;
    color: var(--ag-text-muted);
  }
`;
