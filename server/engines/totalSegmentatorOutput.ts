/**
 * Reads what TotalSegmentator 2.x prints (python_api.py, nnunet.py, libs.py): the stages of a run, the
 * tqdm bars nnU-Net and the weight download draw on stderr, and the sentences with which it refuses a
 * job that no retry can change (a task that needs a licence, options it rejects). Both engines use it:
 * the CLI engine on the program's own output, the Slicer engine on the lines the extension passes on.
 */

export type TotalSegmentatorEvent =
  | { kind: 'no-gpu' }
  | { kind: 'download'; task: number }
  | { kind: 'download-progress'; fraction: number }
  | { kind: 'resampling' }
  | { kind: 'cropping' }
  | { kind: 'predicting'; part: number; parts: number }
  | { kind: 'prediction-progress'; fraction: number }
  | { kind: 'predicted' }
  | { kind: 'saving' };

// tqdm's default bar: "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [...]", desc only when given.
const TQDM = /^(?:([A-Za-z][\w ]*): )?\s*(\d{1,3})%\|[^|]*\|/;

/** One line of output (stdout or stderr) as an event, or undefined when it marks no stage. */
export function parseTotalSegmentatorLine(line: string): TotalSegmentatorEvent | undefined {
  const bar = TQDM.exec(line);
  if (bar) {
    const fraction = Math.min(100, Number(bar[2])) / 100;
    return bar[1] === 'Downloading'
      ? { kind: 'download-progress', fraction }
      : { kind: 'prediction-progress', fraction };
  }
  const text = line.trim();
  let m: RegExpExecArray | null;
  if ((m = /^Predicting part (\d+) of (\d+)/.exec(text)))
    return { kind: 'predicting', part: Number(m[1]), parts: Math.max(1, Number(m[2])) };
  if (text === 'Predicting...') return { kind: 'predicting', part: 1, parts: 1 };
  if (/^Predicted in [\d.]+s$/.test(text)) return { kind: 'predicted' };
  if (text === 'Resampling...') return { kind: 'resampling' };
  if (text === 'Saving segmentations...') return { kind: 'saving' };
  if (text === 'Generating rough segmentation for cropping...') return { kind: 'cropping' };
  if ((m = /^Downloading model for Task (\d+)/.exec(text))) return { kind: 'download', task: Number(m[1]) };
  if (text.startsWith('No GPU detected. Running on CPU.')) return { kind: 'no-gpu' };
  return undefined;
}

/** A tqdm redraw: logged only when the bar is full, or a job log would hold every redraw. */
export function isProgressBar(line: string): { complete: boolean } | undefined {
  const bar = TQDM.exec(line);
  return bar ? { complete: Number(bar[2]) >= 100 } : undefined;
}

const LICENCE_START = 'In contrast to the other tasks this task is not openly available.';

/**
 * TotalSegmentator's own sentence when it refused the job for a reason no retry can change, else
 * undefined: the licence text (show_license_info, then sys.exit(1)), its licence errors, a ValueError
 * it raised about the options, or an argparse error (exit code 2).
 */
export function refusalIn(lines: readonly string[]): string | undefined {
  const start = lines.findIndex((l) => l.trim() === LICENCE_START);
  if (start >= 0) {
    const text: string[] = [];
    for (const l of lines.slice(start)) {
      if (l.trim() !== '') text.push(l.trim());
      if (l.trim().startsWith('For commercial usage')) break;
    }
    return text.join(' ');
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (/^ERROR: (A license number has not been set|Invalid license number|Could not find config file)/.test(l))
      return l.slice('ERROR: '.length);
    const value = /^ValueError: (.+)$/.exec(l);
    if (value) return value[1];
    const usage = /^TotalSegmentator: error: (.+)$/.exec(l);
    if (usage) return usage[1];
  }
  return undefined;
}
