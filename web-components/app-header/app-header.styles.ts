import { css } from 'lit';

export default css`
  :host {
    display: block;
    background: #0f2744;
    color: #ffffff;
  }
  .bar {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    justify-content: space-between;
    gap: 0.5rem 1.5rem;
    max-width: 72rem;
    margin: 0 auto;
    padding: 0.6rem 1rem;
  }
  .brand {
    display: inline-flex;
    align-items: center;
    gap: 0.6rem;
    color: inherit;
    text-decoration: none;
    font-size: 1.1rem;
    font-weight: 650;
    letter-spacing: 0.01em;
  }
  .brand svg {
    width: 1.75rem;
    height: 1.75rem;
    flex: none;
  }
  nav ul {
    display: flex;
    gap: 0.25rem;
    margin: 0;
    padding: 0;
    list-style: none;
  }
  nav a {
    display: inline-block;
    padding: 0.45rem 0.8rem;
    border-radius: 6px;
    color: #d5e3f3;
    text-decoration: none;
    font-weight: 500;
  }
  nav a:hover {
    background: rgba(255, 255, 255, 0.08);
    color: #ffffff;
  }
  nav a[aria-current='page'] {
    background: rgba(255, 255, 255, 0.14);
    color: #ffffff;
  }
  .account {
    display: inline-flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.4rem;
    margin-left: auto;
  }
  .user {
    color: #d5e3f3;
    font-size: 0.9rem;
    max-width: 12rem;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .account button {
    font: inherit;
    font-size: 0.9rem;
    padding: 0.35rem 0.7rem;
    border: 1px solid rgba(255, 255, 255, 0.35);
    border-radius: 6px;
    background: transparent;
    color: #ffffff;
    cursor: pointer;
  }
  .account button:hover {
    background: rgba(255, 255, 255, 0.1);
  }
  button:focus-visible,
  a:focus-visible {
    outline: 3px solid #7cc4ff;
    outline-offset: 2px;
  }
  @media (max-width: 480px) {
    .bar {
      padding: 0.5rem 0.75rem;
    }
    nav a {
      padding: 0.4rem 0.6rem;
    }
  }
`;
