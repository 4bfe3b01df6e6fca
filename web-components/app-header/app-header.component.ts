import { LitElement, html } from 'lit';
import { property } from 'lit/decorators.js';
import styles from './app-header.styles.ts';

const LINKS = [
  { id: 'upload', href: '/', label: 'Upload & queue' },
  { id: 'files', href: '/files', label: 'Files' },
  { id: 'pacs', href: '/pacs', label: 'PACS' },
] as const;

/**
 * @summary The product name and the links between pages.
 * @attr current - id of the page being shown ("upload" or "files"); its link gets aria-current.
 */
export class AgAppHeader extends LitElement {
  static override styles = styles;

  @property({ reflect: true }) current = '';

  override render() {
    return html`
      <header class="bar">
        <a class="brand" href="/">
          <svg viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#1d3f66" />
            <path
              d="M16 5c-4 0-7 3-7 7 0 3 1.6 4.6 2.4 6.6.6 1.6.6 4.4.6 6.4 0 1 .8 2 2 2h4c1.2 0 2-1 2-2 0-2 0-4.8.6-6.4.8-2 2.4-3.6 2.4-6.6 0-4-3-7-7-7z"
              fill="none"
              stroke="#7cc4ff"
              stroke-width="2"
            />
            <path d="M12.5 14h7M13 18h6" stroke="#7cc4ff" stroke-width="2" stroke-linecap="round" />
          </svg>
          Anatomy Gateway
        </a>
        <nav aria-label="Pages">
          <ul>
            ${LINKS.map(
              (l) =>
                html`<li>
                  <a href=${l.href} aria-current=${this.current === l.id ? 'page' : 'false'}>${l.label}</a>
                </li>`,
            )}
          </ul>
        </nav>
      </header>
    `;
  }
}
