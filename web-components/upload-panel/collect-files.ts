/**
 * Turns a drop into a flat list of files with their folder paths. Dropped folders are walked with
 * the File System entries API (readEntries hands out at most ~100 entries per call, so it is called
 * until it returns none).
 */

export interface PickedFile {
  file: File;
  /** Path inside the dropped or picked folder, or just the file name. */
  path: string;
}

/** Files no scanner writes and no one means to upload: skipped without a word. */
export function isJunk(path: string): boolean {
  const name = path.split('/').pop() ?? path;
  return name.startsWith('.') || /^(thumbs\.db|desktop\.ini|dicomdir\.bak)$/i.test(name) || path.includes('__MACOSX/');
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    out.push({ file: await fileOf(entry as FileSystemFileEntry), path });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
      for (const child of batch) await walk(child, path, out);
    }
  }
}

export async function filesFromDrop(transfer: DataTransfer): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  // Entries must be taken synchronously, before the first await: the DataTransfer empties afterwards.
  const entries = [...transfer.items].map((item) => (item.kind === 'file' ? item.webkitGetAsEntry() : null));
  if (entries.some((e) => e !== null)) {
    for (const entry of entries) if (entry) await walk(entry, '', out);
  } else {
    for (const file of transfer.files) out.push({ file, path: file.name });
  }
  return out.filter((p) => !isJunk(p.path));
}

export function filesFromInput(input: HTMLInputElement): PickedFile[] {
  return [...(input.files ?? [])]
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }))
    .filter((p) => !isJunk(p.path));
}
