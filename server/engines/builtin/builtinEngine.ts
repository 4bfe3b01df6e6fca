import type { Engine, EngineContext, EngineInput, EngineResult } from '../engine.ts';
import { segmentBody } from './segmentBody.ts';

/**
 * The engine that always works: no outside program, no model weights. Body, lungs and bone for CT,
 * body for MR (see segmentBody.ts). The shared mesher turns its label map into glTF.
 */
export const builtinEngine: Engine = {
  name: 'builtin',
  async run(input: EngineInput, ctx: EngineContext): Promise<EngineResult> {
    ctx.signal.throwIfAborted();
    await ctx.progress(0, 'segmenting body, lungs and bone (built-in engine)');
    const started = performance.now();
    const result = segmentBody(input.volume, ctx.signal, ctx.startMeshing);
    for (const note of result.notes) ctx.log(note);
    ctx.log(
      `built-in segmentation: ${result.segments.map((s) => s.name).join(', ') || 'nothing found'} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    await ctx.progress(100, 'segmentation done');
    return { labelMap: result.labelMap, segments: result.segments, versions: { builtin: '1' } };
  },
};
