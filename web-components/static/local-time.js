/* global document */
// The phone page's times in the phone's own zone and clock, as the desktop pages show them. The page is rendered
// on the server with its time; this only rewrites <time data-local datetime="..."> once loaded.
for (const el of document.querySelectorAll('time[data-local][datetime]')) {
  const d = new Date(el.getAttribute('datetime'));
  if (!Number.isNaN(d.getTime()))
    el.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
