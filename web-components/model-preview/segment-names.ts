/** Material names and segment names differ in case and separators ("liver" vs "Liver_1"). */
export function normaliseName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}
