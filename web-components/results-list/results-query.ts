import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** The files page's sort choices: GET /api/results `sort` and `order` (docs/api.md). */
export const SORTS = [
  { value: 'createdAt:desc', label: 'Newest first' },
  { value: 'patientName:asc', label: 'Patient name' },
  { value: 'patientId:asc', label: 'Patient ID' },
  { value: 'studyDate:desc', label: 'Study date, newest first' },
  { value: 'modality:asc', label: 'Modality' },
  { value: 'seriesDescription:asc', label: 'Series description' },
] as const;
export type SortChoice = (typeof SORTS)[number]['value'];

/** The results address for a search text and a sort choice. */
export function resultsUrl(search: string, sort: SortChoice): string {
  const params = new URLSearchParams();
  const q = search.trim();
  if (q) params.set('q', q.slice(0, 200));
  const [field, order] = sort.split(':');
  if (sort !== 'createdAt:desc') {
    params.set('sort', field ?? 'createdAt');
    params.set('order', order ?? 'asc');
  }
  const query = params.toString();
  return query ? `/api/results?${query}` : '/api/results';
}

/**
 * Search and sort of the results list: typing reloads after a short pause, a new sort at once, and only the
 * answer to the latest request is shown (an earlier, slower one is dropped).
 */
export class ResultsQueryController implements ReactiveController {
  search = '';
  sort: SortChoice = 'createdAt:desc';
  readonly #host: ReactiveControllerHost & { load(): Promise<void> };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #latest = 0;

  constructor(host: ReactiveControllerHost & { load(): Promise<void> }) {
    this.#host = host;
    host.addController(this);
  }

  get active(): boolean {
    return this.search.trim() !== '';
  }

  /** The address to load, and a check that says whether its answer is still the latest. */
  request(): { url: string; current: () => boolean } {
    const id = ++this.#latest;
    return { url: resultsUrl(this.search, this.sort), current: () => id === this.#latest };
  }

  setSearch(value: string): void {
    this.search = value;
    this.#host.requestUpdate();
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#host.load(), 250);
  }

  setSort(value: SortChoice): void {
    this.sort = value;
    clearTimeout(this.#timer);
    void this.#host.load();
  }

  hostDisconnected(): void {
    clearTimeout(this.#timer);
  }
}
