/**
 * Modal behaviour shared by the dialogs, on top of the native <dialog> (whose showModal() already
 * makes the rest of the page inert and turns Escape into a 'cancel' event): Tab cycles inside the
 * dialog instead of escaping to the browser's toolbar, and focus goes back where it came from.
 */

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select, textarea, [tabindex]:not([tabindex="-1"])';

/** The focused element, looking through open shadow roots (document.activeElement stops at the host). */
export function deepActiveElement(): HTMLElement | null {
  let el: Element | null = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  return el instanceof HTMLElement ? el : null;
}

function focusables(dialog: HTMLDialogElement): HTMLElement[] {
  return [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
    (el) => el.offsetParent !== null || el === document.activeElement,
  );
}

/** Keydown handler for the dialog: wraps Tab and Shift+Tab at the ends. */
export function trapTab(dialog: HTMLDialogElement, event: KeyboardEvent): void {
  if (event.key !== 'Tab') return;
  const items = focusables(dialog);
  if (items.length === 0) {
    event.preventDefault();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const anchor = focusAnchor(dialog);
  if (anchor === undefined) {
    event.preventDefault();
    (event.shiftKey ? last : first).focus();
    return;
  }
  // Focus may sit inside an element's shadow root (model-viewer's canvas, the slice view's controls): the browser
  // moves on from there by itself, unless nothing focusable of the dialog lies beyond it.
  const follows = (a: Node, b: Node) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
  if (event.shiftKey && (anchor === first || !items.some((i) => i !== anchor && follows(i, anchor)))) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (anchor === last || !items.some((i) => i !== anchor && follows(anchor, i)))) {
    event.preventDefault();
    first.focus();
  }
}

/**
 * The element of the dialog's own tree that holds focus: the focused element itself, or the host whose shadow root
 * it is in. Undefined when focus is outside the dialog.
 */
function focusAnchor(dialog: HTMLDialogElement): HTMLElement | undefined {
  let el: Element | null = deepActiveElement();
  const home = dialog.getRootNode();
  while (el && el.getRootNode() !== home) {
    const root = el.getRootNode();
    el = root instanceof ShadowRoot ? root.host : null;
  }
  return el instanceof HTMLElement && dialog.contains(el) ? el : undefined;
}
