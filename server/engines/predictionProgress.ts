import type { Device, Quality } from './engine.ts';
import type { TotalSegmentatorEvent } from './totalSegmentatorOutput.ts';

/**
 * Turns TotalSegmentator's stages into a job's progress between `from` and `to` percent. Its stage
 * lines say where a run is, but one prediction can take 40 minutes on a CPU with nothing in between:
 * inside a prediction, nnU-Net's own bar is used when it shows, and otherwise an estimate that moves
 * towards the end of the stage as time passes (and says so in the status), from how long the previous
 * part took or, before that, from the times TotalSegmentator's and the Slicer extension's documentation
 * give (GPU: 20-30 s fast, 40-50 s normal; CPU: about a minute fast, 40-50 minutes normal).
 */

/** Seconds one model of a quality is expected to take, per device class. */
const PART_SECONDS: Record<'cpu' | 'gpu', Record<Quality, number>> = {
  cpu: { normal: 480, fast: 60, fastest: 20 },
  gpu: { normal: 8, fast: 20, fastest: 6 },
};

// Where each stage sits in the window, as fractions of it.
const AT = { download: 0, resampling: 0.05, cropping: 0.05, cropEnd: 0.08, predict: 0.08, predicted: 0.9 };
const RESAMPLE_BACK = 0.92;
const SAVING = 0.95;
/** An estimate never claims more of a stage than this: the rest is left for the line that ends it. */
const ESTIMATE_CEILING = 0.9;

export interface PredictionProgressOptions {
  from: number;
  to: number;
  quality: Quality;
  device: Device;
  report(percent: number, status: string): void;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

type Stage = 'starting' | 'download' | 'cropping' | 'resampling' | 'predicting' | 'after';

export class PredictionProgress {
  private readonly now: () => number;
  private stage: Stage = 'starting';
  private cpu: boolean;
  private cropPending = false;
  private cropping = false;
  private part = 1;
  private parts = 1;
  private partStarted = 0;
  private measuredPartMs: number | undefined;
  private barFraction: number | undefined;
  private lastPercent = -1;
  private lastStatus = '';

  constructor(private readonly opts: PredictionProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.cpu = opts.device === 'cpu' || opts.device === 'mps';
  }

  event(e: TotalSegmentatorEvent): void {
    switch (e.kind) {
      case 'no-gpu':
        this.cpu = true;
        return;
      case 'download':
        this.stage = 'download';
        this.emit(AT.download, `Downloading TotalSegmentator's model for task ${e.task} (first run only)`);
        return;
      case 'download-progress':
        if (this.stage === 'download')
          this.emit(AT.download + (AT.resampling - AT.download) * e.fraction, this.lastStatus);
        return;
      case 'cropping':
        this.cropPending = true;
        this.stage = 'cropping';
        this.emit(AT.cropping, 'TotalSegmentator: finding the region to segment');
        return;
      case 'resampling':
        if (this.stage === 'predicting' || this.stage === 'after') {
          if (this.cropping) return;
          this.stage = 'after';
          this.emit(RESAMPLE_BACK, 'TotalSegmentator: resampling the segmentation to the input grid');
        } else if (this.stage !== 'cropping') {
          this.stage = 'resampling';
          this.emit(AT.resampling, 'TotalSegmentator: resampling the volume');
        }
        return;
      case 'predicting':
        if (this.cropPending) {
          // The rough model that finds the region of --roi_subset runs before the real one.
          this.cropPending = false;
          this.cropping = true;
        } else {
          this.cropping = false;
          if (this.stage === 'predicting' && e.part > this.part) this.measuredPartMs = this.now() - this.partStarted;
        }
        this.stage = 'predicting';
        this.part = e.part;
        this.parts = e.parts;
        this.partStarted = this.now();
        this.barFraction = undefined;
        this.update();
        return;
      case 'prediction-progress':
        if (this.stage !== 'predicting') return;
        this.barFraction = e.fraction;
        this.update();
        return;
      case 'predicted':
        if (this.cropping) {
          this.emit(AT.cropEnd, 'TotalSegmentator: finding the region to segment');
          return;
        }
        this.measuredPartMs ??= this.now() - this.partStarted;
        this.stage = 'after';
        this.emit(AT.predicted, 'Segmenting with TotalSegmentator: done');
        return;
      case 'saving':
        this.stage = 'after';
        this.emit(SAVING, 'TotalSegmentator: saving the segmentation');
        return;
    }
  }

  /** Called every few seconds: moves the estimate of a running prediction. */
  tick(): void {
    if (this.stage === 'predicting') this.update();
  }

  private update(): void {
    const [start, end] = this.cropping
      ? [AT.cropping, AT.cropEnd]
      : [
          AT.predict + ((AT.predicted - AT.predict) * (this.part - 1)) / this.parts,
          AT.predict + ((AT.predicted - AT.predict) * this.part) / this.parts,
        ];
    const estimated = this.barFraction === undefined;
    const fraction = estimated ? this.estimate() : 0.05 + 0.9 * this.barFraction!;
    const what = this.cropping
      ? 'TotalSegmentator: finding the region to segment'
      : `Segmenting with TotalSegmentator${this.parts > 1 ? `, part ${this.part} of ${this.parts}` : ''}`;
    this.emit(start + (end - start) * fraction, estimated ? `${what} (progress estimated)` : what);
  }

  private estimate(): number {
    const expectedMs =
      this.measuredPartMs ??
      1000 * PART_SECONDS[this.cpu ? 'cpu' : 'gpu'][this.cropping ? 'fastest' : this.opts.quality];
    const elapsed = Math.max(0, this.now() - this.partStarted);
    return ESTIMATE_CEILING * (1 - Math.exp(-elapsed / Math.max(1, expectedMs)));
  }

  /** Reports a position in the window; progress never goes back, and nothing unchanged is reported. */
  private emit(fraction: number, status: string): void {
    const { from, to } = this.opts;
    const percent = Math.max(this.lastPercent, Math.round(from + (to - from) * Math.min(1, Math.max(0, fraction))));
    if (percent === this.lastPercent && status === this.lastStatus) return;
    this.lastPercent = percent;
    this.lastStatus = status;
    this.opts.report(percent, status);
  }
}
