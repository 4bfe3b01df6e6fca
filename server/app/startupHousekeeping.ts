import type { AppContext } from './context.ts';
import { reconcileInstanceFiles } from '../ingest/reconcile.ts';
import { describeNarrowed, makeOwnerOnly } from '../storage/ownerOnly.ts';

/**
 * What `serve` checks in DATA_DIR once it is up: permissions looser than owner-only are narrowed (with a warning),
 * and instance files a crash left without their index row are indexed, or removed when cut short. It never throws:
 * a finding is logged, and serving goes on.
 */
export async function startupHousekeeping(ctx: AppContext): Promise<void> {
  const { config, logger } = ctx;
  try {
    const report = await makeOwnerOnly(config.dataDir);
    if (report.narrowed.length > 0) {
      logger.warn({ narrowed: report.narrowed.length }, describeNarrowed(report, config.dataDir));
    }
    if (report.failed > 0) {
      logger.warn(
        { failed: report.failed },
        `${report.failed} file(s) in DATA_DIR could not be made owner-only (not ours?)`,
      );
    }
    logger.info({ checked: report.checked, narrowed: report.narrowed.length }, 'DATA_DIR permissions checked');
  } catch (err) {
    logger.error({ err: { message: (err as Error).message } }, 'DATA_DIR permissions could not be checked');
  }
  try {
    const report = await reconcileInstanceFiles(ctx, ctx.runtime.startedAt, (key, message) =>
      logger.warn({ key }, message),
    );
    logger.info({ ...report }, 'stored instance files and index reconciled');
  } catch (err) {
    logger.error({ err: { message: (err as Error).message } }, 'stored instance files could not be reconciled');
  }
}
